"""A results store that stops taking writes while a sweep runs (its disk full, another program's lock
held past the busy timeout; any error the database driver raises on a write): the sweep stops with
it, said in one line that names the store, the cause and the resume, instead of three chained
tracebacks."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from db.engine import StoreWriteError, command_url, display_url


def store_fault(err: BaseException) -> DBAPIError | None:
    """The store's own error: `err` itself, or the one a TuneError stands for (Tune re-raises a
    callback's exception as a TuneError holding only its text, raised while handling it). Any other
    error, even one raised while handling a store error, is not this."""
    from ray.tune.error import TuneError

    if isinstance(err, TuneError):
        err = err.__cause__ or err.__context__
    return err if isinstance(err, DBAPIError) else None


def stopped(fault: DBAPIError, db_url: str, sweep_id: int | None) -> StoreWriteError:
    cause = str(fault.orig).strip().splitlines()[0] if fault.orig is not None else type(fault).__name__
    shown = display_url(db_url)
    if sweep_id is None:
        return StoreWriteError(f"the results store {shown} refused a write ({cause}) before the sweep was recorded; "
                               "nothing ran: fix that (free space on its disk, close the program that holds it "
                               "locked), then run the spec again")
    return StoreWriteError(
        f"the results store {shown} refused a write ({cause}), so sweep {sweep_id} stopped with its trials; what "
        f"the store took before is kept. Fix that (free space on its disk, close the program that holds it "
        f"locked), then `superpos sweep resume {sweep_id} --db {command_url(db_url)}` continues it")
