"""The planner checked against a run on this machine: a throughput table measured here, the plan of a
small CPU sweep from it, the sweep run for real, planned vs measured wall time side by side.

    python -m scripts.benchmarks.schedule [--table FILE] [--out FILE] [--epochs 4] [--cpus 2]

1. Calibrate, in as many processes side by side as the sweep runs trials at once (one thread each,
   as the spec gives each trial one CPU): per method and task, one trial's training and evaluation
   examples/s on the embedded tiny-t5-lm-adapt and the demo copy (their real input lengths), and a
   new worker process's start; then the cost per trial and per epoch of everything around a trial's
   computing (Ray Tune, the member's set-up, reports, checkpoints, the store's writes), from two
   sweeps of trials with one example each (1 and 5 epochs).
   These go into a throughput table (`--table`), the shape orchestrator/throughput.json has.
2. Plan the sweep below with `superpos sweep plan --throughput TABLE --cpus N` (the schedule model).
3. Run it (`superpos sweep run`, a fresh store) and read, from the store, the span from the first
   trial's start to the last trial's end; beside it the command's whole wall time (Ray's start and
   the driver's set-up, which the plan does not count).
Target: the planned wall time within 25% of the measured span.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from scripts import first_paragraph

METHODS = ("prompt_tuning", "superpos_prompt")
TASKS = ("sst2", "rte", "cola", "boolq", "mnli")  # the validation sweep's and the demo's
MODEL = "tiny-t5-lm-adapt"
SPEC = """name: schedule-check
methods: [prompt_tuning, superpos_prompt]
tasks: [sst2, rte, cola, boolq]
models: [tiny-t5-lm-adapt]
m: [16]
dropout: [on, off]
seeds: [0, 1]
optuna: {{trials_per_cell: 2}}
training: {{epochs: {epochs}, batch_size: 32, data: demo}}
resources: {{cpus_per_trial: 1, gpus_per_trial: 0}}
ray: {{address: null, num_cpus: {cpus}, storage_path: {storage}}}
"""


def measure_one(method: str, task: str, epochs: int) -> dict:
    """One trial's row of the table: its training and evaluation examples/s (the median of its epochs
    after the first)."""
    from scripts.benchmarks.pack_steps import train_epoch
    from workers.member import Member
    from workers.trial import TrialConfig

    cfg = TrialConfig(method=method, task=task, model=MODEL, dropout=True, epochs=epochs, batch_size=32,
                      method_params={"m": 16} if method == "superpos_prompt" else {})
    member = Member.build(cfg, cache=True)
    train_s, eval_s, n_train = [], [], 0
    for epoch in member.epochs():
        seconds, n_train = train_epoch(member, epoch)
        train_s.append(seconds)
        start = time.perf_counter()
        member.end_epoch(epoch)
        eval_s.append(time.perf_counter() - start)
    return {"architecture": MODEL, "precision": "fp32", "method": method, "task": task, "batch_size": 32,
            "eval_batch_size": cfg.eval_batch_size,
           "train_examples_per_s": n_train / statistics.median(train_s[1:]),
           "eval_examples_per_s": len(member.splits["val"]) / statistics.median(eval_s[1:])}


def measure_all(methods, tasks, epochs: int, launched: float) -> dict:
    """What one calibration process measures: its own start as a new worker's (from its launch to its
    first member built, with a Tune worker's imports), then every (method, task)."""
    from ray import tune  # noqa: F401 - what a Tune worker imports before its first trial

    from workers import tune_adapter  # noqa: F401

    torch.set_num_threads(1)
    from workers.member import Member
    from workers.trial import TrialConfig

    Member.build(TrialConfig(method=methods[0], task=tasks[0], model=MODEL), cache=True)
    out = {"worker_s": time.time() - launched, "rows": []}
    for method in methods:
        for task in tasks:
            rounds = [measure_one(method, task, epochs) for _ in range(2)]  # the faster: spikes of a noisy machine out
            out["rows"].append({**rounds[0], **{key: max(r[key] for r in rounds)
                                                for key in ("train_examples_per_s", "eval_examples_per_s")}})
    return out


def calibrate(methods=METHODS, tasks=TASKS, epochs: int = 4, processes: int = 2) -> dict:
    """`processes` calibration processes side by side (one per slot of the sweep, so each sees the
    machine as a trial does when every slot is busy), each one thread: per (method, task), training and
    evaluation examples/s (the faster of two rounds, then the median over processes), and a new
    worker's start (Tune's own costs per trial and epoch: tune_overheads)."""
    with tempfile.TemporaryDirectory() as folder:
        outs = [Path(folder) / f"{i}.json" for i in range(processes)]
        launched = time.time()
        procs = [subprocess.Popen([sys.executable, "-m", "scripts.benchmarks.schedule", "--measure", str(out),
                                   "--launched", repr(launched), "--epochs", str(epochs),
                                   "--methods", *methods, "--tasks", *tasks], env=ENV) for out in outs]
        if any(proc.wait() for proc in procs):
            raise SystemExit("a calibration process failed (its error is above)")
        parts = [json.loads(out.read_text()) for out in outs]
    rows = []
    for i, row in enumerate(parts[0]["rows"]):
        rates = {key: statistics.median(part["rows"][i][key] for part in parts)
                 for key in ("train_examples_per_s", "eval_examples_per_s")}
        rows.append({**row, **rates})
        print(f"{row['method']:<16} {row['task']:<6} train {rates['train_examples_per_s']:7.0f} ex/s  eval "
              f"{rates['eval_examples_per_s']:7.0f} ex/s", flush=True)
    for method in methods:  # a task without a row of its own is planned at the method's median
        mine = [r for r in rows if r["method"] == method]
        rows.append({**{k: v for k, v in mine[0].items() if k != "task"}, **{
            key: statistics.median(r[key] for r in mine) for key in ("train_examples_per_s", "eval_examples_per_s")}})
    return {"provenance": {"device": f"cpu ({platform.machine()}, {os.cpu_count()} cores), {processes} trials at once, "
                                     "1 thread each", "date": datetime.date.today().isoformat(),
                           "torch": torch.__version__, "command": "python -m scripts.benchmarks.schedule",
                           "inputs": "the demo copy's inputs, per task"},
            "rows": rows, "overheads": {"worker_s": statistics.mean(part["worker_s"] for part in parts)}}


OVERHEAD_SPEC = """name: overhead-check
methods: [prompt_tuning]
tasks: [rte]
models: [tiny-t5-lm-adapt]
dropout: [off]
optuna: {{trials_per_cell: 24}}
training: {{epochs: {epochs}, batch_size: 32, data: demo, max_train_samples: 1, max_eval_samples: 1}}
resources: {{cpus_per_trial: 1, gpus_per_trial: 0}}
ray: {{address: null, num_cpus: {cpus}, storage_path: {storage}}}
"""
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
       "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def _superpos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, env=ENV)


def spec_file(work: Path, name: str, text: str) -> Path:
    spec = work / f"{name}.yaml"
    spec.write_text(text)
    return spec


def run_sweep(spec: Path) -> tuple[Path, float]:
    """`superpos sweep run` of `spec` into a fresh store beside it: (the store, the command's seconds)."""
    db = spec.with_suffix(".db")
    started = time.perf_counter()
    run = _superpos("sweep", "run", str(spec), "--db", f"sqlite:///{db}")
    if run.returncode:
        raise SystemExit(run.stdout[-3000:] + run.stderr[-3000:])
    return db, time.perf_counter() - started


def trial_times(db: Path, slots: int) -> tuple[float, float]:
    """(the median trial's seconds from its start to its end, a slot's mean seconds between one trial's
    end and the next one's start), over the trials each slot ran after its first (whose worker starts)."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT started_ms, finished_ms FROM trials ORDER BY started_ms").fetchall()
    later = rows[slots:]
    durations = [(end - start) / 1000 for start, end in later]
    first_end, last_end = min(end for _, end in rows), max(end for _, end in rows)
    per_slot = (last_end - first_end) / 1000 / (len(later) / slots)
    return statistics.median(durations), max(0.0, per_slot - statistics.mean(durations))


def tune_overheads(work: Path, cpus: int) -> dict:
    """Ray Tune's and the store's cost per trial and per epoch, from two sweeps of 24 trials that
    compute next to nothing (one training and one validation example), of 1 and 5 epochs: the median
    trial's length grows by the per-epoch cost; the rest, and the slot's wait between trials, is the
    per-trial cost."""
    times = {}
    for epochs in (1, 5):
        db, _ = run_sweep(spec_file(work, f"overhead-{epochs}", OVERHEAD_SPEC.format(epochs=epochs, cpus=cpus,
                                                                                   storage=work / "ray")))
        times[epochs] = trial_times(db, cpus)
    per_epoch = max(0.0, (times[5][0] - times[1][0]) / 4)
    gap = statistics.mean(t[1] for t in times.values())
    return {"trial_s": max(0.0, times[1][0] - per_epoch) + gap, "epoch_s": per_epoch}


def measured_span(db: Path) -> tuple[float, int, str]:
    """(seconds from the first trial's start to the last trial's end, trials, the sweep's state)."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        low, high, n = conn.execute("SELECT MIN(started_ms), MAX(finished_ms), COUNT(*) FROM trials").fetchone()
        state = conn.execute("SELECT state FROM sweeps").fetchone()[0]
    return (high - low) / 1000, n, state


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.schedule", description=first_paragraph(__doc__))
    parser.add_argument("--table", help="where to write the measured throughput table (default: a temp file; "
                        "orchestrator/throughput-cpu.json is the one `sweep plan` reads for CPU sweeps)")
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--cpus", type=int, default=2, help="Ray's CPUs: trials at once (one CPU each)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # a calibration process: write what it measured here
    parser.add_argument("--launched", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        Path(args.measure).write_text(json.dumps(measure_all(args.methods, args.tasks, args.epochs, args.launched)))
        return {}
    work = Path(tempfile.mkdtemp(prefix="superpos-schedule-"))
    table = Path(args.table or work / "throughput-cpu.json")
    measured = calibrate(processes=args.cpus)
    tune_costs = tune_overheads(work, args.cpus)
    print(f"Tune and the store: {tune_costs['trial_s']:.2f} s per trial, {tune_costs['epoch_s']:.3f} s per epoch")
    measured["overheads"].update(tune_costs)
    measured["overheads"]["provenance"] = (
        "trial_s and epoch_s: a slot's steady seconds per trial in two sweeps of trials with one example "
        "(1 and 5 epochs; Ray Tune's scheduling, reports, checkpoints and the store's writes); worker_s: a new "
        "process's start to its first member, with a Tune worker's imports (the mean over the processes started "
        "together)")
    table.write_text(json.dumps(measured, indent=2) + "\n")
    spec = spec_file(work, "schedule-check", SPEC.format(epochs=args.epochs, cpus=args.cpus, storage=work / "ray"))
    plan = _superpos("sweep", "plan", str(spec), "--throughput", str(table), "--cpus", str(args.cpus),
                     "--format", "json")
    if plan.returncode:
        raise SystemExit(plan.stderr)
    planned = json.loads(plan.stdout)
    db, whole = run_sweep(spec)
    span, trials, state = measured_span(db)
    wall = planned["wall_hours"] * 3600
    figures = {"trials": trials, "state": state, "planned_wall_s": wall, "measured_span_s": span,
               "measured_command_s": whole, "planned_over_measured": wall / span,
               "planned_trials": planned["trials"], "schedule": planned["schedule"], "table": str(table)}
    print(f"\n{trials} trials ({state}) on {args.cpus} CPUs, {args.epochs} epochs each:")
    print(f"  planned wall time      {wall:7.1f} s")
    print(f"  measured (trials span) {span:7.1f} s   planned / measured = {wall / span:.2f}"
          f"  (target 0.75-1.25: {'met' if 0.75 <= wall / span <= 1.25 else 'NOT met'})")
    print(f"  the whole command      {whole:7.1f} s   (with Ray's start and the driver's set-up)")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
