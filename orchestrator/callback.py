"""The driver-side Tune callback that writes every trial to the results store (the single writer)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import ray.cloudpickle as cloudpickle
from ray import tune

from db.engine import open_store
from db.writer import ResultsWriter
from orchestrator.faults import explain, what_next
from workers.trial import TrialConfig

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
    """The line that says what went wrong: the last 'SomeError: ...' line of a traceback."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", line)]
    return (named or lines or ["(no message)"])[-1][:300]


class ResultsCallback(tune.Callback):
    """Creates the trial row when Tune starts a trial, logs each epoch and checkpoint, counts failures,
    closes the row with its scores; prints one progress line per finished trial."""

    LOG_EVERY_S = 30.0

    def __init__(self, db_url: str, total: int, retries: int = 0, echo: Callable[[str], None] = print,
                 epochs: int = 1, progress: bool = False, sweep_id: int | None = None):
        self.db_url, self.total, self.retries, self.echo, self.sweep_id = db_url, total, retries, echo, sweep_id
        self._writer: ResultsWriter | None = None
        self.db_ids: dict[str, int] = {}
        self.trainable: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.failed: list[str] = []  # "cell_key #number: first line of the error"
        self.nodes: set[str] = set()  # the machines that ran trials
        self.done = 0
        self.epochs, self.progress = epochs, progress
        self._bar = None
        self.epochs_done: dict[str, int] = {}  # by member slot ("<Tune trial id>/<index>")
        self.last: dict[str, dict] = {}  # each member's latest epoch result
        self.closed: set[str] = set()  # members whose rows are finished
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

    def _advance(self, slot: str, to: int) -> None:
        """Count `to` epochs done for this member (a stopped or failed one skips the rest): on the bar,
        or, without a terminal (a Ray job's log), as a progress line every LOG_EVERY_S seconds."""
        step = to - self.epochs_done.get(slot, 0)
        self.epochs_done[slot] = max(to, self.epochs_done.get(slot, 0))
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
            eta = (now - self._first_result) / done * (planned - done) if done else float("nan")
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

    @staticmethod
    def _slot(trial, index: int) -> str:
        return f"{trial.trial_id}/{index}"

    def _open(self, trial) -> list[int]:
        """Indices of the trial's members whose rows are not closed yet."""
        return [i for i in range(len(trial.config["members"])) if self._slot(trial, i) not in self.closed]

    def _start(self, trial) -> None:
        for index in range(len(trial.config["members"])):
            self._start_member(trial, index)

    def _start_member(self, trial, index: int) -> int:
        slot = self._slot(trial, index)
        if slot in self.db_ids:  # a retry of the same trial (Tune restarts it in place)
            return self.db_ids[slot]
        members = trial.config["members"]
        cfg = members[index]
        method_cfg = TrialConfig.from_dict(cfg["trial"]).method_config()
        ray_id = trial.trial_id if len(members) == 1 else slot
        self.db_ids[slot] = self.writer.start_trial(
            cfg["cell_id"], cfg["number"], ray_id, cfg["trial"], method_cfg.lr, method_cfg.weight_decay,
            role=cfg.get("role", "search"), continuing=cfg.get("continuing", False),
        )
        # the failure budget spans resumes: a trial that failed before has fewer retries left now
        if hasattr(trial, "max_failures"):
            trial.max_failures = max(0, self.retries - max(m.get("failures", 0) for m in members))
        self.started[slot] = time.monotonic()
        return self.db_ids[slot]

    def on_trial_start(self, iteration, trials, trial, **info):
        self._start(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        """One member's epoch (`member` indexes the trial's members); `left` closes its row."""
        index = int(result.get("member", 0))
        slot = self._slot(trial, index)
        db_id = self._start_member(trial, index)
        if result.get("node"):
            self.nodes.add(result["node"])
        if result.get("compile_error") and result["compile_error"] not in self.compile_errors:
            self.compile_errors.add(result["compile_error"])
            self._say(f"WARNING: compiling the model failed on {result.get('node') or 'a worker'} "
                      f"({result['compile_error']}); its packs train without compiling")
        checkpoint = self._checkpoint(trial, result)
        if not result.get("event_only"):
            step = int(result["epoch"])
            self.writer.log_metrics(db_id, step, result, checkpoint)
            if result.get("snapshot"):
                self.writer.store_snapshots(db_id, step, result["snapshot"])
            self.trainable[slot] = result.get("trainable_parameters")
            self.last[slot] = result
            self._advance(slot, step)
        elif checkpoint:
            self.writer.set_checkpoint(*checkpoint)
        if "left" in result and slot not in self.closed:
            state = result["left"]
            self._finish(trial, index, state, result.get("error") if state == "failed" else None)

    def _checkpoint(self, trial, result: dict) -> tuple[list[int], str] | None:
        """The checkpoint this report came with (Tune names its folder in the result, and keeps only the
        newest) and the rows it belongs to: every member of the trial, since a pack's checkpoint holds
        each member's latest state (a member that failed alone is re-run from it on resume; one that
        finished keeps naming a folder that exists)."""
        name = result.get("checkpoint_dir_name")
        if not name or not trial.path:
            return None
        ids = [self.db_ids[slot] for slot in (self._slot(trial, i) for i in range(len(trial.config["members"])))
               if slot in self.db_ids]
        return ids, f"{trial.path.rstrip('/')}/{name}"

    def on_trial_recover(self, iteration, trials, trial, **info):
        """A failed attempt that Tune retries (from the trial's last checkpoint): every member still in it."""
        error = self._error(trial, retrying=True)
        for index in self._open(trial):
            self.writer.record_failure(self._start_member(trial, index), error)
            cfg = trial.config["members"][index]
            self._say(f"      {cfg['cell_key']} #{cfg['number']}: retrying after {first_line(error)}")

    def _finish(self, trial, index: int, state: str, error: str | None = None) -> None:
        slot = self._slot(trial, index)
        db_id = self._start_member(trial, index)  # a trial can fail before it starts
        if error is not None:
            self.writer.record_failure(db_id, error)
        self.writer.finish_trial(db_id, state, error, self.trainable.get(slot))
        self.closed.add(slot)
        self.done += 1
        seconds = time.monotonic() - self.started.get(slot, time.monotonic())
        last = self.last.get(slot) or {}
        cfg = trial.config["members"][index]
        if error is not None:
            outcome = f"FAILED: {first_line(error)}"
            self.failed.append(f"{cfg['cell_key']} #{cfg['number']}: {first_line(error)}")
        elif "peak/score" not in last:
            outcome = state.upper()
        else:
            outcome = (f"peak val score {100 * last['peak/score']:.1f} (epoch {last['peak/epoch']})"
                       + (f", stopped early at epoch {last['epoch']}" if state == "stopped" else ""))
        role = "" if cfg.get("role", "search") == "search" else f" replica seed={cfg['trial']['seed']}"
        pack = len(trial.config["members"])
        padding = f", {last['pack/padding']:.0%} padding" if "pack/padding" in last else ""
        self._advance(slot, self.epochs)
        self._say(f"[{self.done:>3}/{self.total}] {cfg['cell_key']}{role}  lr={cfg['trial']['lr']:.2e}  "
                  f"{outcome}  {seconds:.1f}s" + (f"  (pack of {pack}{padding})" if pack > 1 else ""))

    def on_trial_complete(self, iteration, trials, trial, **info):
        """Members still open: 'stopped' when early stopping ended them before their last epoch, else 'complete'."""
        for index in self._open(trial):
            last_epoch = (self.last.get(self._slot(trial, index)) or {}).get("epoch", 0)
            planned = trial.config["members"][index]["trial"].get("epochs", TrialConfig.epochs)
            self._finish(trial, index, "complete" if last_epoch >= planned else "stopped")

    def _error(self, trial, retrying: bool = False) -> str:
        """The trial's error, with a plain last line when its worker or node went away (orchestrator/faults.py)."""
        text, exc = error_text(trial)
        last = next((self.last[s] for s in (self._slot(trial, i) for i in self._open(trial)) if s in self.last), {})
        return explain(text, exc, last.get("node"), last.get("node_id"), what_next(retrying, self.retries, self.sweep_id))

    def on_trial_error(self, iteration, trials, trial, **info):
        error = self._error(trial)
        for index in self._open(trial):
            self._finish(trial, index, "failed", error)
