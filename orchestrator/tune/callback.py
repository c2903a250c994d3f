"""The driver-side Tune callback that writes every trial to the results store (the single writer)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import ray.cloudpickle as cloudpickle
from ray import tune

from db.engine import open_store
from db.run_state import eta_seconds
from db.writer import ResultsWriter
from orchestrator.spec.plan import readable_key
from orchestrator.tune.faults import explain, what_next
from workers.members import (
    ARTEFACTS,
    CHECKPOINT_DIR,
    COMPILE_ERROR,
    EVENT_ONLY,
    LEFT,
    NODE,
    NODE_ID,
    PEAK,
    PEAK_EPOCH,
    SNAPSHOT,
    Entry,
    MemberBook,
    tune_row_id,
)

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _read(path) -> bytes | None:
    return Path(path).read_bytes() if path and Path(path).is_file() else None


def error_text(trial) -> tuple[str, BaseException | None]:
    """(the trial's own traceback, header line included, no colour codes, as the trainable raised it
    (workers.tune_adapter.TrialFailure), else Ray's text of the error, else a note; the exception
    when it could be read). Read from the trial's local folder, where Tune writes the error before
    it calls the callbacks."""
    text, exc = None, None
    pickled = _read(getattr(trial, "pickled_error_file", None))
    if pickled is not None:
        try:
            exc = cloudpickle.loads(pickled)
            exc = getattr(exc, "cause", None) or exc
            text = getattr(exc, "traceback_text", None) or str(exc)
        except Exception:  # noqa: BLE001 - an unreadable pickle falls back to the text file
            text = exc = None
    if text is None:
        raw = _read(getattr(trial, "error_file", None))
        text = raw.decode(errors="replace") if raw is not None else None
    return ANSI.sub("", text or f"trial {trial.trial_id} failed (no error recorded)").strip(), exc


def first_line(error: str) -> str:
    """The line that says what went wrong: the last 'SomeError: ...' line of a traceback; a message of
    several lines without one, joined (its last line alone was e.g. "2. Set RAY_ADDRESS to ...")."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", line)]
    return (named[-1] if named else " ".join(lines) or "(no message)")[:300]


class ResultsCallback(tune.Callback):
    """Creates the trial row when Tune starts a trial, logs each epoch and checkpoint, counts failures,
    closes the row with its scores; prints one progress line per finished trial."""

    LOG_EVERY_S = 30.0

    def __init__(self, db_url: str, total: int, retries: int = 0, echo: Callable[[str], None] = print,
                 epochs: int = 1, progress: bool = False, sweep_id: int | None = None):
        self.db_url, self.total, self.retries, self.echo, self.sweep_id = db_url, total, retries, echo, sweep_id
        self._writer: ResultsWriter | None = None
        self.book = MemberBook()  # every Tune trial's members: open, last result, ending
        self.db_ids: dict[str, int] = {}  # by member key, as below
        self.trainable: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.failed: list[str] = []  # "cell_key #number: first line of the error"
        self.nodes: set[str] = set()  # the machines that ran trials
        self.done = 0
        self.epochs, self.progress = epochs, progress
        self._bar = None
        self.epochs_done: dict[str, int] = {}
        self.compile_errors: set[str] = set()  # told once each
        self._first_result: float | None = None  # monotonic time of the first epoch reported
        self._last_log: float | None = None

    @property
    def bar(self):
        """A live bar on a terminal: epochs done of the planned ones, failures, ETA (tqdm)."""
        if self._bar is None and self.progress:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total * self.epochs, unit="epoch", dynamic_ncols=True, leave=False,
                             bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} epochs [{elapsed}<{remaining}{postfix}]")
        return self._bar

    def _say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line)
        else:
            self.echo(line)

    def _advance(self, key: str, to: int) -> None:
        """Count `to` epochs done for this member (a stopped or failed one skips the rest): on the bar,
        or, without a terminal (a Ray job's log), as a progress line every LOG_EVERY_S seconds."""
        step = to - self.epochs_done.get(key, 0)
        self.epochs_done[key] = max(to, self.epochs_done.get(key, 0))
        if self.bar is not None:
            if step > 0:
                self.bar.update(step)
            self.bar.set_postfix_str(f"{self.done}/{self.total} trials, {len(self.failed)} failed", refresh=False)
            return
        now = time.monotonic()
        if self._first_result is None:
            self._first_result = self._last_log = now
        if now - self._last_log >= self.LOG_EVERY_S:
            self._last_log = now
            done, planned = sum(self.epochs_done.values()), self.total * self.epochs
            eta = eta_seconds(planned - done, (now - self._first_result) / done) if done else float("nan")
            self.echo(f"progress: {done}/{planned} epochs, {self.done}/{self.total} trials, {len(self.failed)} "
                      f"failed, ETA {eta / 60:.1f} min")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    @property
    def writer(self) -> ResultsWriter:
        if self._writer is None:
            self._writer = ResultsWriter(open_store(self.db_url))
        return self._writer

    def __getstate__(self) -> dict:
        """Tune pickles its callbacks with the experiment state: leave the engine and the bar behind."""
        return {**self.__dict__, "_writer": None, "_bar": None}

    def _entries(self, trial) -> list[Entry]:
        return self.book.add(trial.trial_id, trial.config["members"])

    def _start(self, trial) -> None:
        for entry in self._entries(trial):
            self._start_member(trial, entry)

    def _start_member(self, trial, entry: Entry) -> int:
        if entry.key in self.db_ids:  # a retry of the same trial (Tune restarts it in place)
            return self.db_ids[entry.key]
        members, cfg = trial.config["members"], entry.config
        self.db_ids[entry.key] = self.writer.start_trial(
            cfg["cell_id"], cfg["number"], tune_row_id(trial.trial_id, entry.index, len(members)), cfg["trial"],
            cfg["trial"]["lr"], cfg["trial"].get("weight_decay"), role=entry.role, continuing=cfg.get("continuing", False),
            replica_of=cfg.get("replica_of"))
        # the failure budget spans resumes: a trial that failed before has fewer retries left now
        if hasattr(trial, "max_failures"):
            trial.max_failures = max(0, self.retries - max(m.get("failures", 0) for m in members))
        self.started[entry.key] = time.monotonic()
        return self.db_ids[entry.key]

    def on_trial_start(self, iteration, trials, trial, **info):
        self._start(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        """One member's epoch (`member` indexes the trial's members); `left` closes its row. The
        report's artefacts are taken out of it here (Tune lets callbacks change the result in place),
        so neither Tune's own files and experiment state nor the callbacks after this one hold them."""
        artefacts = result.pop(ARTEFACTS, None)
        self._entries(trial)
        entry = self.book.report(trial.trial_id, result)
        if entry is None:
            return
        db_id = self._start_member(trial, entry)
        if result.get(NODE):
            self.nodes.add(result[NODE])
        if result.get(COMPILE_ERROR) and result[COMPILE_ERROR] not in self.compile_errors:
            self.compile_errors.add(result[COMPILE_ERROR])
            self._say(f"WARNING: compiling the model failed on {result.get(NODE) or 'a worker'} "
                      f"({result[COMPILE_ERROR]}); its packs train without compiling")
        checkpoint = self._checkpoint(trial, result)
        if not result.get(EVENT_ONLY):
            step = int(result["epoch"])
            self.writer.log_epoch(db_id, step, result, checkpoint, result.get(SNAPSHOT), artefacts)
            self.trainable[entry.key] = result.get("trainable_parameters")
            self._advance(entry.key, step)
        elif checkpoint:
            self.writer.set_checkpoint(*checkpoint)
        if LEFT in result and self.book.close(entry, result[LEFT]):
            self._finish(trial, entry, result.get("error") if result[LEFT] == "failed" else None)

    def _checkpoint(self, trial, result: dict) -> tuple[list[int], str] | None:
        """The checkpoint this report came with (Tune names its folder in the result, and keeps only the
        newest) and the rows it belongs to: every member of the trial, since a pack's checkpoint holds
        each member's latest state (a member that failed alone is re-run from it on resume; one that
        finished keeps naming a folder that exists)."""
        name = result.get(CHECKPOINT_DIR)
        if not name or not trial.path:
            return None
        ids = [self.db_ids[e.key] for e in self._entries(trial) if e.key in self.db_ids]
        return ids, f"{trial.path.rstrip('/')}/{name}"

    def on_trial_recover(self, iteration, trials, trial, **info):
        """A failed attempt that Tune retries (from the trial's last checkpoint): every member still in it."""
        error = self._error(trial, retrying=True)
        entries = self.book.open(trial.trial_id)
        self.writer.record_failure([self._start_member(trial, entry) for entry in entries], error)
        for entry in entries:
            cfg = entry.config
            self._say(f"      {readable_key(cfg['cell_key'])} #{cfg['number']}: retrying after {first_line(error)}")

    def _finish(self, trial, entry: Entry, error: str | None = None) -> None:
        """Close a member's row in the state its entry ended in; one progress line."""
        db_id = self._start_member(trial, entry)  # a trial can fail before it starts
        self.writer.finish_trial(db_id, entry.ended, error, self.trainable.get(entry.key))
        self.done += 1
        seconds = time.monotonic() - self.started.get(entry.key, time.monotonic())
        last, cfg = entry.last or {}, entry.config
        if error is not None:
            outcome = f"FAILED: {first_line(error)}"
            self.failed.append(f"{readable_key(cfg['cell_key'])} #{cfg['number']}: {first_line(error)}")
        elif PEAK not in last:
            outcome = entry.ended.upper()
        else:
            outcome = (f"peak val score {100 * last[PEAK]:.1f} (epoch {last[PEAK_EPOCH]})"
                       + (f", stopped early at epoch {last['epoch']}" if entry.ended == "stopped" else ""))
        if (entry.first_epoch or 1) > 1:  # a resumed sweep's trial that went on from its stored checkpoint
            outcome += f", continued after epoch {entry.first_epoch - 1}"
        role = "" if entry.role == "search" else f" replica seed={cfg['trial']['seed']}"
        pack = len(trial.config["members"])  # at its start; members that joined it since, beside
        joined = max(0, len(self.book.entries(trial.trial_id)) - pack)
        extra = (f", {joined} joined" if joined else "") + (f", {last['pack/padding']:.0%} padding"
                                                            if "pack/padding" in last else "")
        self._advance(entry.key, self.epochs)
        self._say(f"[{self.done:>3}/{self.total}] {readable_key(cfg['cell_key'])}{role}  lr={cfg['trial']['lr']:.2e}  "
                  f"{outcome}  {seconds:.1f}s" + (f"  (pack of {pack}{extra})" if pack > 1 or joined else ""))

    def _end(self, trial, failed: bool, error: str | None = None) -> None:
        """The Tune trial ended: its members still open close (workers/members.py `ending`)."""
        self._entries(trial)
        for entry in self.book.end_trial(trial.trial_id, failed):
            self._finish(trial, entry, error)

    def on_trial_complete(self, iteration, trials, trial, **info):
        """Members still open: 'stopped' when early stopping ended them before their last epoch, else 'complete'."""
        self._end(trial, failed=False)

    def _error(self, trial, retrying: bool = False) -> str:
        """The trial's error, with a plain last line when its worker or node went away (orchestrator/tune/faults.py)."""
        text, exc = error_text(trial)
        last = next((e.last for e in self.book.open(trial.trial_id) if e.last), {})
        return explain(text, exc, last.get(NODE), last.get(NODE_ID), what_next(retrying, self.retries, self.sweep_id))

    def on_trial_error(self, iteration, trials, trial, **info):
        self._entries(trial)
        self._end(trial, failed=True, error=self._error(trial))
