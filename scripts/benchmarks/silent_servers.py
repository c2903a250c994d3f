"""How long `superpos` takes to give up on a server that takes connections and never answers (a stale
SSH tunnel, a hung head, a firewall that lets the handshake through): for each server a sweep or a
command talks to, a listener on 127.0.0.1 that accepts and stays silent, the command run as a user
runs it, and its exit code, seconds, whether it left a store file, and its last line.

    python -m scripts.benchmarks.silent_servers [--only postgres jobs_api ...] [--out FILE]

Before this was measured (2026-12-08), the same commands waited 132 s (PostgreSQL), past 200 s (the
Jobs API), past 150 s (a GCS), 33 s (a Ray client), 93 s of a held driver (MLflow), over 50 s until
killed (a gs:// bucket), past 300 s (the hub, for a model) and past 600 s (the hub, for `data: hub`: the
sweep's store was made and its first trial's load_dataset still waited).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts import first_paragraph

REPO = Path(__file__).resolve().parents[2]
BASE = "methods: [prompt_tuning]\ntasks: [rte]\ndropout: [off]\noptuna: {trials_per_cell: 1}\n"
TRAINING = "training: {{epochs: 1, max_train_samples: 16, max_eval_samples: 8{more}}}\n"  # {more}: a case's own keys
# name -> (spec body, or None for no spec, the command's arguments, extra environment); {port}: the listener
CASES = {
    "postgres": (None, ["sweep", "list", "--db", "postgresql+psycopg://u@127.0.0.1:{port}/x"], {}),
    "jobs_api": ("ray: {{address: auto}}\n", ["sweep", "submit", "{spec}", "--address", "http://127.0.0.1:{port}"], {}),
    "gcs": ("ray: {{address: auto}}\n", ["sweep", "run", "{spec}"], {"RAY_ADDRESS": "127.0.0.1:{port}"}),
    "ray_client": ("ray: {{address: 'ray://127.0.0.1:{port}'}}\n", ["sweep", "run", "{spec}"], {}),
    "mlflow": ("ray: {{num_cpus: 1}}\ntracking: {{mlflow: {{tracking_uri: 'http://127.0.0.1:{port}'}}}}\n",
               ["sweep", "run", "{spec}"], {}),
    "storage": ("ray: {{num_cpus: 1, storage_path: 's3://bucket/ray?endpoint_override=127.0.0.1:{port}&scheme=http"
                "&region=us-east-1'}}\n", ["sweep", "run", "{spec}"], {}),
    "hub": ("models: [someone/some-t5]\nray: {{num_cpus: 1}}\n", ["sweep", "run", "{spec}"],
            {"HF_ENDPOINT": "http://127.0.0.1:{port}", "HF_HUB_OFFLINE": None}),
    "hub_data": ("ray: {{num_cpus: 1}}\n", ["sweep", "run", "{spec}"],
                 {"HF_ENDPOINT": "http://127.0.0.1:{port}", "HF_HUB_OFFLINE": None, "HF_DATASETS_OFFLINE": None}),
}
MORE_TRAINING = {"hub_data": ", data: hub"}


def measure(name: str, folder: Path, limit: float) -> dict:
    body, args, extra = CASES[name]
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        spec, db = folder / f"{name}.yaml", folder / f"{name}.db"
        if body is not None:
            spec.write_text(BASE + TRAINING.format(more=MORE_TRAINING.get(name, "")) + body.format(port=port))
        argv = [a.format(port=port, spec=spec) for a in args] + ([] if name == "postgres" else ["--db", str(db)])
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
        env.pop("RAY_ADDRESS", None)
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value.format(port=port)
        started = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-m", "orchestrator.cli", *argv], capture_output=True, text=True,
                                  cwd=REPO, env=env, timeout=limit)
            code, said = done.returncode, (done.stderr.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            code, said = None, f"still waiting after {limit:g} s"
        return {"case": name, "seconds": round(time.monotonic() - started, 1), "exit": code,
                "store_file_made": db.exists(), "said": said[:300]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--only", nargs="+", choices=sorted(CASES), help="these cases (default: all)")
    parser.add_argument("--limit", type=float, default=400.0, help="seconds a command may wait (default 400)")
    parser.add_argument("--out", help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="silent-") as folder:
        for name in args.only or list(CASES):
            rows.append(measure(name, Path(folder), args.limit))
            row = rows[-1]
            print(f"{row['case']:<11} {row['seconds']:>6.1f} s  exit {row['exit']}  store file "
                  f"{'made' if row['store_file_made'] else 'not made'}  {row['said']}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
