"""Byte-compile what superpos's processes import, by importing it once with byte-code writing on
(`make install` runs `torch` and `ray` side by side, one per core, with PYTHONDONTWRITEBYTECODE empty).

Where PYTHONDONTWRITEBYTECODE is set (as on these machines) nothing is compiled later, and every
process would compile torch, transformers and Ray from source again. Compiling all of site-packages
(`compileall`, about 22,800 files, most never imported) took 47 s on 2 cores; this compiles the
about 7,100 that a sweep's driver, its Ray processes and trial workers, the store and the CLI import
(after it, a sweep with PYTHONDONTWRITEBYTECODE set compiles nothing). The dashboard's web server
(uvicorn, websockets: about 90 files) and what only the tests import are written by their first run
under `make dashboard` and `make test`, which leave writing on.

    python -m scripts.warm_bytecode torch   # torch, transformers' T5, datasets, peft, the trial code
    python -m scripts.warm_bytecode ray     # Ray Tune, a local Ray's own processes and a worker, the store,
                                            # Optuna, Streamlit, MLflow, the CLI
"""

from __future__ import annotations

import importlib
import os
import sys

TORCH = ["torch", "torch._dynamo", "torch._inductor.compile_fx", "transformers", "datasets", "peft",
         "transformers.models.t5.modeling_t5", "workers.pack", "workers.trial", "workers.tune_adapter",
         "ray.air._internal.torch_utils"]  # a trial worker's device managers
RAY = ["ray.tune", "optuna", "sqlalchemy", "alembic.command", "alembic.config", "streamlit", "altair", "pandas",
       "pandas.core.reshape.reshape", "pandas.io.formats.string", "mlflow", "orchestrator.cli", "orchestrator.tune.run"]


def _in_a_ray_worker() -> str:
    import ray.tune  # noqa: F401 - what a trial worker imports before the trial's own modules

    return "ok"


def warm_ray() -> None:
    """A local Ray started and stopped by the sweep driver's own start (orchestrator/tune/ray_start.py):
    its GCS, raylet, agents, monitors and one worker import their modules with writing on (they inherit
    this environment)."""
    import ray

    from orchestrator.spec import parse_spec
    from orchestrator.tune.ray_start import start_ray

    os.environ.pop("RAY_ADDRESS", None)  # a local Ray, never a cluster this shell points at
    start_ray(parse_spec("methods: [prompt_tuning]\ntasks: [rte]\nray: {num_cpus: 1}\n", "warm_bytecode"))
    try:
        ray.get(ray.remote(_in_a_ray_worker).remote())
    finally:
        ray.shutdown()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("torch", "ray"):
        print(__doc__, file=sys.stderr)
        return 2
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set: nothing would be written (run with PYTHONDONTWRITEBYTECODE= )",
              file=sys.stderr)
        return 2
    for name in TORCH if argv[0] == "torch" else RAY:
        importlib.import_module(name)
    if argv[0] == "ray":
        warm_ray()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
