"""The `superpos` commands around a sweep: the dashboard, one trial without Ray, a model's sizes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from orchestrator.cli.common import fail as _fail


def cmd_dashboard(args) -> int:
    from db.engine import open_store, resolve_url

    url = resolve_url(args.db)
    open_store(url, readonly=True).dispose()  # a clear error now beats a broken page later
    import socket

    with socket.socket() as probe:
        try:
            probe.bind((args.address, args.port))
        except OSError as err:
            return _fail(f"cannot serve on {args.address}:{args.port} ({err.strerror}); another program has the "
                         "port: choose another with --port")
    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    env = {**os.environ, "SUPERPOS_DB": url}
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
           "--server.address", args.address, "--server.port", str(args.port),
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]  # a results browser: no Deploy
    print(f"dashboard for {url} on http://{args.address}:{args.port} (Ctrl-C stops it)", flush=True)
    os.execvpe(cmd[0], cmd, env)  # Streamlit takes this process over: a signal to it stops the server
    return 0  # not reached


def cmd_trial_run(args) -> int:
    from orchestrator.spec.text import load_yaml, read_text
    from workers.trial import TrialConfig, run_trial

    path = Path(args.config)
    if not path.is_file():
        return _fail(f"no trial config at {path}")
    cfg = TrialConfig.from_dict(load_yaml(read_text(path, "trial config"), str(path)) or {})
    run_trial(cfg, report=lambda metrics: print(json.dumps(_printable(metrics)), flush=True))
    return 0


def _printable(metrics: dict) -> dict:
    """An epoch's metrics for the terminal: learned tensors as their shapes, not their values."""
    from workers.members import ARTEFACTS, SNAPSHOT

    out = dict(metrics)
    if out.get(SNAPSHOT):
        out[SNAPSHOT] = {name: {"shape": t["shape"], "dtype": t["dtype"]} for name, t in out[SNAPSHOT].items()}
    if ARTEFACTS in out:
        out[ARTEFACTS] = {selection: {a["name"]: a["shape"] for a in items} for selection, items in out[ARTEFACTS].items()}
    return out


def _parse_sets(pairs: list[str]) -> dict:
    import yaml

    values = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes key=value, got {pair!r}")
        values[key] = yaml.safe_load(raw)
    return values


def _auto_weights(name: str) -> str | int:
    """pretrained where they can be had (a local folder, the hub cache, or the network), else the
    architecture preset's random weights (said on stderr); an unknown offline name is an error."""
    import difflib

    from workers.inputs import resolve_commit
    from workers.presets import ARCHITECTURES, EMBEDDED_MODELS

    if name in EMBEDDED_MODELS or Path(name).expanduser().is_dir():
        return "pretrained"
    if os.environ.get("HF_HUB_OFFLINE") != "1" or resolve_commit(name, "model", None):
        return "pretrained"
    if name in ARCHITECTURES:
        print(f"{name}: not in the local Hugging Face cache and HF_HUB_OFFLINE=1: counting its architecture with "
              "random weights (--weights random); unset HF_HUB_OFFLINE for the real checkpoint", file=sys.stderr)
        return "random"
    known = [*EMBEDDED_MODELS, *ARCHITECTURES]
    close = difflib.get_close_matches(name, known, n=1)
    return _fail(f"no model {name!r} here: not embedded, not a local folder, not in the Hugging Face cache (offline)"
                 + (f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"))


def cmd_model_info(args) -> int:
    from dataclasses import asdict

    from workers.assembly import assemble
    from workers.methods import get_method_config
    from workers.models import count_parameters
    from workers.presets import ARCHITECTURES, EMBEDDED_MODELS, RANDOM_PREFIX

    name = args.model
    weights = args.weights
    if weights == "auto":
        weights = _auto_weights(name)
        if isinstance(weights, int):
            return weights
    if weights == "random" and name not in EMBEDDED_MODELS:
        if name not in ARCHITECTURES:
            return _fail(f"no architecture preset {name!r} for --weights random; choose one of: "
                         f"{', '.join(ARCHITECTURES)}")
        name = RANDOM_PREFIX + name
    method_cfg = get_method_config(args.method, _parse_sets(args.set))
    offline = name in EMBEDDED_MODELS or name.startswith(RANDOM_PREFIX)
    built = assemble(name, method_cfg, dropout=True, device="meta" if offline else None)
    print(json.dumps({
        "model": args.model,
        "weights": "embedded" if name in EMBEDDED_MODELS else "random" if offline else "pretrained",
        "model_parameters": count_parameters(built.loaded.model),
        "d_model": built.loaded.d_model,
        "embedding_rows": built.loaded.model.get_input_embeddings().weight.shape[0],
        "method": method_cfg.name,
        "method_config": asdict(method_cfg),
        "trainable_parameters": built.trainable_parameters,
    }, indent=2))
    return 0
