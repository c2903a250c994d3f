"""Store at scale: write 1,000,000 metric rows (2,000 trials x 500 epochs) through the writer, then time
every query the dashboard runs. Target: each query under one second on a 2-core machine.

    python -m scripts.benchmarks.store_scale [--db sqlite:////tmp/scale.db] [--trials 2000] [--steps 500]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from db import queries, tables
from db.engine import open_store
from db.writer import ResultsWriter
from scripts import first_paragraph

KEYS = ("val/score",)  # one key per step: trials x steps rows


def populate(url: str, trials: int, steps: int) -> dict:
    writer = ResultsWriter(open_store(url))
    sweep = writer.create_sweep("scale", "name: scale", "x", {"versions": {}})
    methods, tasks = ["prompt_tuning", "superpos_prompt", "residual_prompt", "full_finetune"], \
        ["qqp", "qnli", "mnli", "sst2", "stsb", "mrpc", "cola", "multirc", "rte", "cb", "copa", "wic", "boolq"]
    cells = [dict(key=f"{m}|{t}|{d}|{s}", method=m, task=t, model="tiny-t5", m=128 if m == "superpos_prompt" else None,
                  dropout=d, seed=s) for m in methods for t in tasks for d in (True, False) for s in range(2)]
    cell_ids = list(writer.add_cells(sweep, cells).values())
    rng = random.Random(0)
    started, rows = time.perf_counter(), 0
    for i in range(trials):
        trial = writer.start_trial(cell_ids[i % len(cell_ids)], i // len(cell_ids), f"t{i}", {}, 0.01, 0.0)
        rows += writer.log_history(trial, {step: {k: rng.random() for k in KEYS} for step in range(1, steps + 1)})
        writer.finish_trial(trial, "complete", trainable_parameters=1000)
        if (i + 1) % max(1, trials // 10) == 0:
            print(f"  {i + 1:>6}/{trials} trials, {rows:,} rows, {time.perf_counter() - started:.0f}s", flush=True)
    seconds = time.perf_counter() - started
    return {"sweep_id": sweep, "rows": rows, "write_seconds": seconds, "rows_per_second": rows / seconds}


def time_queries(url: str, sweep_id: int, repeats: int = 3) -> dict[str, float]:
    engine = open_store(url, readonly=True)
    work = {
        "list_sweeps": lambda: queries.list_sweeps(engine),
        "table": lambda: tables.scores(engine, sweep_id),
        "trials_frame": lambda: queries.trials_frame(engine, sweep_id),
        "metric_keys": lambda: queries.metric_keys(engine, sweep_id),
        "learning_curves": lambda: queries.learning_curves(engine, sweep_id, "val/score"),
    }
    out = {}
    for name, fn in work.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        out[name] = min(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.store_scale", description=first_paragraph(__doc__))
    parser.add_argument("--db", help="store URL (default: a new SQLite file in a temporary folder)")
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--out", default="bench-store.json")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'scale.db'}"
    written = populate(url, args.trials, args.steps)
    print(f"wrote {written['rows']:,} metric rows in {written['write_seconds']:.1f}s "
          f"({written['rows_per_second']:,.0f} rows/s) to {url}", flush=True)
    timed = time_queries(url, written["sweep_id"])
    for name, seconds in timed.items():
        print(f"  {name:<18} {seconds * 1000:8.1f} ms  {'ok' if seconds < 1 else 'OVER 1 s'}")
    Path(args.out).write_text(json.dumps({"url": url, **written, "query_seconds": timed}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
