"""A trial's learned prompt as a Hugging Face PEFT adapter (`superpos export prompt`).

The folder holds what `peft.PeftModel.from_pretrained(base_model, folder)` loads: `adapter_config.json`
(PromptTuningConfig: SEQ_2_SEQ_LM, `num_virtual_tokens` n, `num_transformer_submodules` 1, i.e. the
encoder only, as every method here prepends its prompt to the encoder input and never the decoder) and
`adapter_model.safetensors` (`prompt_embeddings`: the (n, d_model) prompt the trial fed the encoder,
at its peak or final epoch), plus a model card (README.md). Every method of this product reduces
to that matrix at inference (prompt tuning: P; SuperPos: E_i p'_i; residual: MLP(P) + P), so every
one exports. Full fine-tuning has no prompt. PEFT itself is not needed to write the folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine

from db import artefacts, queries

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
CELL_FILTERS = ("method", "task", "model", "m", "dropout")


def _describe(row) -> str:
    """A cell as the flags that name it."""
    m = "" if pd.isna(row["m"]) else f" --m {int(row['m'])}"
    return (f"--method {row['method']} --task {row['task']} --model {row['model']}{m} "
            f"--dropout {'on' if row['dropout'] else 'off'}")


def resolve_trial(engine: Engine, sweep_id: int, seed: int | None = None, **cell: object) -> int:
    """The trial a cell reports: its chosen trial, or with `seed` the chosen trial or replica run with
    that seed. `cell`: method, task, model, m, dropout (None: any); exactly one cell must match."""
    reported = queries.chosen_and_replicas(engine, sweep_id)
    if reported.empty:
        raise ValueError(f"sweep {sweep_id} has no finished trials to export")
    rows = reported
    for key, value in cell.items():
        if value is not None:
            rows = rows[rows[key] == value]
    cells = rows.drop_duplicates("cell_id")
    if cells.empty:
        choices = "; ".join(sorted({_describe(r) for _, r in reported.iterrows()}))
        raise ValueError(f"no cell of sweep {sweep_id} matches; its cells: {choices}")
    if len(cells) > 1:
        choices = "; ".join(sorted(_describe(r) for _, r in cells.iterrows()))
        raise ValueError(f"{len(cells)} cells of sweep {sweep_id} match: name one with more of --method, --task, "
                         f"--model, --m, --dropout ({choices})")
    if seed is None:
        return int(rows[rows["role"] == "search"]["trial_id"].iloc[0])
    seeded = rows[rows["seed"] == seed]
    if seeded.empty:
        raise ValueError(f"the cell has no reported trial with seed {seed}; its seeds: "
                         f"{', '.join(str(int(s)) for s in sorted(rows['seed']))}")
    return int(seeded["trial_id"].iloc[0])


def _trial(engine: Engine, trial_id: int) -> dict:
    found = queries.read_frame(engine, text("SELECT * FROM trial_summary WHERE trial_id = :t"), t=trial_id)
    if found.empty:
        raise ValueError(f"no trial {trial_id} in this store; `superpos sweep status SWEEP` lists a sweep's trials")
    row = found.iloc[0].to_dict()
    config = queries.read_frame(engine, text("SELECT config FROM trials WHERE id = :t"), t=trial_id)
    row["config"] = json.loads(config["config"].iloc[0] or "{}")
    return row


def _input_format(task) -> str:
    if task.raw_single_field and len(task.input_fields) == 1:
        return f"the raw `{task.input_fields[0]}` text"
    return "`" + " ".join(f"{task.input_name(i)}: {{{f}}}" for i, f in enumerate(task.input_fields)) + "`"


def _base(trial: dict, provenance: dict) -> tuple[str, str | None, bool]:
    """(the base model in words, the hub revision to load, whether it is a hub model): the revision the
    spec pinned, else the commit the sweep recorded (sweeps.inputs); an embedded or random-weight model
    is named by its content hash and is loaded through superpos."""
    pinned = (trial["config"].get("revisions") or {}).get(trial["model"])
    found = ((provenance.get("inputs") or {}).get("models") or {}).get(trial["model"]) or {}
    hub = found.get("kind", "hub") == "hub"
    revision = pinned or found.get("commit")
    if hub:
        return f"`{trial['model']}`, revision {revision or 'not recorded'}", revision, True
    return (f"`{trial['model']}` ({found.get('kind')} in superpos, sha256 {str(found.get('sha256'))[:16]}...)",
            None, False)


def _input_dependent(method: str) -> bool:
    from workers.methods import METHOD_CONFIGS

    return METHOD_CONFIGS.get(method) is not None and METHOD_CONFIGS[method].needs_sources


def target_only(engine: Engine, trial_id: int) -> bool:
    """Whether the trial's export holds part of what it fed the encoder (ATTEMPT's target prompt)."""
    return _input_dependent(_trial(engine, trial_id)["method"])


def _what_exports(method: str) -> str:
    if _input_dependent(method):
        return ("this is its **target prompt only**: the prompt it fed the encoder mixed source prompts per input, "
                "which PEFT's prompt tuning cannot compute, so predictions through this adapter are not the "
                "trial's (its full state, sources and projections, stays in the results store)")
    return "this is the (n, d_model) matrix it fed the encoder"


def model_card(trial: dict, selection: str, epoch: int, shape: tuple[int, ...], provenance: dict) -> str:
    from workers.tasks import get_task

    task = get_task(trial["task"], trial.get("template") or "reference")
    base, revision, hub = _base(trial, provenance)
    loader = (f"base = T5ForConditionalGeneration.from_pretrained({trial['model']!r}"
              + (f", revision={revision!r})" if revision else ")") if hub else
              f"base = load_model({trial['model']!r}).model  # superpos's own model (workers/models.py)")
    matching = "compared after normalisation (lower case, no punctuation or articles)" if task.normalize \
        else "compared as exact strings"
    labels = ", ".join(f"{i} -> `{w}`" for i, w in enumerate(task.label_words)) or "a score written as text"
    score = trial["val_score_peak"] if selection == "peak" else trial["val_score_final"]
    lines = [
        f"# Prompt for {trial['task']} on {trial['model']} ({trial['method']})", "",
        f"A PEFT prompt-tuning adapter exported by superpos from trial {trial['trial_id']} of sweep "
        f"{trial['sweep_id']} ({trial['sweep_name']}), at its {selection} epoch ({epoch}).", "",
        "```python",
        "from peft import PeftModel",
        "from transformers import T5ForConditionalGeneration" if hub else "from workers.models import load_model",
        loader,
        "model = PeftModel.from_pretrained(base, 'THIS_FOLDER')",
        "```", "",
        f"- Base model: {base}",
        f"- Prompt: {shape[0]} virtual tokens x d_model {shape[1]}, prepended to the encoder's input only",
        f"- Method: `{trial['method']}` (options {trial['options'] or '{}'}, m {trial['m'] if not pd.isna(trial['m']) else '-'}), "
        f"dropout {'on' if trial['dropout'] else 'off'}; {_what_exports(trial['method'])}",
        f"- Task: `{trial['task']}` ({task.dataset}/{task.config}), template set `{task.template}`",
        f"- Input format: {_input_format(task)}",
        f"- Label words: {labels}; predictions are greedy decodes of at most {task.target_max_tokens} tokens, "
        f"{matching}",
        f"- Validation score ({trial['eval_protocol']} protocol, {trial['eval_mode']} mode) at this epoch: "
        f"{'n/a' if score is None or pd.isna(score) else f'{100 * score:.2f}'}",
        f"- Learning rate {trial['lr']:g}, weight decay {trial['weight_decay']}, batch size {trial['batch_size']}, "
        f"epochs {trial['epochs']}, seed {trial['seed']} ({trial['role']})",
        f"- Provenance: superpos commit {provenance.get('git_commit') or 'unknown'}"
        f"{' (dirty)' if provenance.get('git_dirty') else ''}, spec hash {provenance.get('spec_hash')}",
    ]
    return "\n".join(lines) + "\n"


def export_prompt(engine: Engine, trial_id: int, out: str | Path, selection: str = "peak") -> Path:
    """Write the adapter folder for one trial; returns it. Clear errors for full fine-tuning and for a
    trial without stored prompts; an existing adapter in `out` is never overwritten."""
    from safetensors.numpy import save_file

    from workers.methods import METHOD_CONFIGS

    trial = _trial(engine, trial_id)
    method = METHOD_CONFIGS.get(trial["method"])
    if method is not None and not method.trains_prompt:
        raise ValueError(f"trial {trial_id} is {trial['method']}: it trains the model itself and has no prompt to "
                         "export (the store keeps the learned prompts of prompt methods only)")
    stored = artefacts.row(engine, trial_id, "prompt", selection)
    if stored is None:
        raise ValueError(f"trial {trial_id} has no stored {selection} prompt: it ended before its first epoch, or "
                         "an earlier superpos (before artefacts were kept) ran it; run the cell again to export it")
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is a file; an adapter is a folder: choose a new folder's path")
    taken = [name for name in ADAPTER_FILES if (folder / name).exists()]
    if taken:
        raise ValueError(f"{folder} already holds an adapter ({', '.join(taken)}); choose another --out or remove it")
    folder.mkdir(parents=True, exist_ok=True)
    prompt = artefacts.decode(stored["data"])
    n, d = prompt.shape
    details = queries.sweep_details(engine, int(trial["sweep_id"]))
    config = {
        "peft_type": "PROMPT_TUNING", "task_type": "SEQ_2_SEQ_LM", "num_virtual_tokens": n, "token_dim": d,
        "num_transformer_submodules": 1, "num_attention_heads": None, "num_layers": None,
        "prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": None, "tokenizer_name_or_path": None,
        "tokenizer_kwargs": None, "base_model_name_or_path": trial["model"],
        "revision": _base(trial, details)[1], "inference_mode": True,
        "modules_to_save": None, "auto_mapping": None,
    }
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file({"prompt_embeddings": prompt}, str(folder / "adapter_model.safetensors"),
              metadata={"superpos_trial": str(trial_id), "selection": selection, "sha256": stored["sha256"]})
    (folder / "README.md").write_text(model_card(trial, selection, int(stored["epoch"]), (n, d), details))
    return folder
