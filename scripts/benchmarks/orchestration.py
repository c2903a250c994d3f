"""Orchestration efficiency: how much of the worker slots' time goes into training, for short trials.

    python -m scripts.benchmarks.orchestration [--trials 80] [--slots 2] [--rounds 1]

Runs the same sweep of one-epoch trials on the tiny model through Ray Tune into a temporary store,
with the per-process caches off (every trial loads the model and tokenizes its split again) and on
(workers/cache.py), alternating, and prints for each

    efficiency = sum of the trials' epoch time (train + evaluation) / (span x slots)

where span runs from the first trial's start to the last one's end, as the store records them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import textwrap
from pathlib import Path

from scripts import first_paragraph

SPEC = """
name: orchestration-bench
methods: [prompt_tuning, superpos_prompt]
tasks: [rte, sst2]
m: [8]
dropout: [off]
optuna: {{trials_per_cell: {per_cell}}}
training: {{epochs: 1, batch_size: 32}}
resources: {{cpus_per_trial: 1, cache_models: {cache}}}
ray: {{num_cpus: {slots}, storage_path: {storage}}}
"""


def measure(trials: int, slots: int, cache: bool, folder: Path) -> dict:
    from sqlalchemy import text

    from db.engine import open_store
    from orchestrator.spec import parse_spec
    from orchestrator.tune.run import run_sweep

    per_cell = max(1, trials // 4)
    spec = parse_spec(textwrap.dedent(SPEC.format(per_cell=per_cell, cache=str(cache).lower(), slots=slots,
                                                  storage=folder / "ray")))
    url = f"sqlite:///{folder / f'bench-{cache}.db'}"
    run_sweep(spec, url, echo=lambda line: None)
    with open_store(url, readonly=True).connect() as conn:
        rows = conn.execute(text("SELECT t.started_ms, t.finished_ms, m.value FROM trials t JOIN metrics m ON "
                                 "m.trial_id = t.id AND m.key = 'time/epoch_seconds' WHERE t.state = 'complete' "
                                 "ORDER BY t.started_ms")).all()
    span = (max(r[1] for r in rows) - rows[0][0]) / 1000
    training = sum(r[2] for r in rows)
    # steady state: after each slot's first trial (which also starts the worker process: imports torch etc.)
    warm = sorted(r[1] for r in rows[:slots])[-1]
    later = [r for r in rows if r[0] >= warm]
    steady = sum(r[2] for r in later) / (slots * (max(r[1] for r in rows) - warm) / 1000) if later else float("nan")
    return {"cache": cache, "trials": len(rows), "slots": slots, "training_s": training, "span_s": span,
            "efficiency": training / (span * slots), "steady_efficiency": steady}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.orchestration", description=first_paragraph(__doc__))
    parser.add_argument("--trials", type=int, default=80, help="one-epoch trials per sweep (default 80)")
    parser.add_argument("--slots", type=int, default=2, help="concurrent trials (Ray CPUs; default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="off/on pairs, alternating (default 1)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    runs: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="superpos-bench-") as tmp:
        for i in range(args.rounds):
            for cache in ((False, True) if i % 2 == 0 else (True, False)):
                folder = Path(tmp) / f"r{i}-{cache}"
                folder.mkdir()
                result = measure(args.trials, args.slots, cache, folder)
                runs[cache].append(result)
                print(f"cache {'on ' if cache else 'off'}: {result['trials']} trials, training {result['training_s']:.1f} s "
                      f"in {result['span_s']:.1f} s x {args.slots} slots: efficiency {result['efficiency']:.2f} "
                      f"(after each worker's first trial: {result['steady_efficiency']:.2f})", flush=True)
    figures = {}
    for name in ("efficiency", "steady_efficiency"):
        off, on = (statistics.median(r[name] for r in runs[c]) for c in (False, True))
        figures[name] = {"off": off, "on": on}
        print(f"{name} (training time / (span x slots)), {args.trials} one-epoch tiny trials: caches off {off:.2f}, "
              f"on {on:.2f} (target >= 0.6); on/off = {on / off:.2f}x")
    return {**figures, "runs": runs}


if __name__ == "__main__":
    main()
