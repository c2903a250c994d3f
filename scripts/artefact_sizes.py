"""What the store keeps per prompt-method trial (workers/artefacts.py): the bytes of its final prompt
and of its peak set (the prompt again and the method's whole state), per method, on a model.

    python -m scripts.artefact_sizes                      # t5-base's shape (random weights, no download)
    python -m scripts.artefact_sizes --model tiny-t5 --set m=8

The figures are the lengths of the very blobs a trial sends (encoded here from each method built on
the model), so the README's table is this script's output.
"""

from __future__ import annotations

import argparse
import json

import torch

from scripts import first_paragraph
from workers.artefacts import epoch_artefacts
from workers.assembly import assemble
from workers.methods import METHOD_CONFIGS, get_method_config
from workers.models import load_model


def sizes(model: str, params: dict | None = None) -> dict[str, dict[str, int]]:
    """{method: {"final": bytes, "peak": bytes, "per_trial": bytes}} for every prompt method."""
    loaded = load_model(model)
    out = {}
    for name, cls in METHOD_CONFIGS.items():
        if not cls.trains_prompt:
            continue
        allowed = {k: v for k, v in (params or {}).items() if k in cls.field_names()}
        cfg = get_method_config(name, allowed)
        sources = ({t: torch.zeros(cfg.n_tokens, loaded.d_model) for t in cfg.sources} if cls.needs_sources else None)
        method = assemble(model, cfg, dropout=False, loaded=loaded, source_prompts=sources).model.method
        sent = epoch_artefacts(method, peak_moved=True)
        final, peak = (sum(len(a["data"]) for a in sent[s]) for s in ("final", "peak"))
        out[name] = {"final": final, "peak": peak, "per_trial": final + peak}
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m scripts.artefact_sizes", description=first_paragraph(__doc__))
    parser.add_argument("--model", default="random:google/t5-base-lm-adapt")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a method option, e.g. m=64")
    args = parser.parse_args(argv)
    params = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    found = sizes(args.model, params)
    print(f"bytes kept per trial on {args.model} (final prompt + peak prompt and method state):")
    for name, row in found.items():
        print(f"  {name:<16} final {row['final']:>10,}  peak {row['peak']:>10,}  per trial {row['per_trial']:>10,}")
    return found


if __name__ == "__main__":
    main()
