"""ATTEMPT's source prompts in a spec (spec.sources): the checks that need no store, and the grid's
stages in words. A staged sweep (spec.sources.sweep: this) trains its sources itself: its consuming
cells wait for the cells that train them (orchestrator/tune/sources.py, orchestrator/tune/searcher.py)."""

from __future__ import annotations

from orchestrator.spec.schema import on_off
from workers.methods import METHOD_CONFIGS, get_method_config


def source_checks(model, spec, problems: list[str]) -> None:
    """Every problem of spec.sources and of the methods that mix source prompts."""
    mixers = [m for m in spec.methods if METHOD_CONFIGS[m].needs_sources]
    for method in mixers:
        if "sources" in spec.method_grid.get(method, {}):
            problems.append(f"spec.method_grid.{method}.sources: the source tasks cannot be a grid dimension; set "
                            f"them in spec.method_params.{method}.sources")
    if spec.staged:
        _staged_checks(model, spec, mixers, problems)
    if mixers and model.sources is None:
        problems.append(f"spec.sources: {', '.join(mixers)} mixes source prompts trained before; name the sweep in "
                        "this store that trained them (sources: {sweep: N}, its prompt_tuning cells on the source "
                        "tasks), or train them in this sweep (sources: {sweep: this})")
    if model.sources is not None and not mixers:
        problems.append("spec.sources: no method of spec.methods takes source prompts (attempt does); remove it")
    if model.sources is not None and "://" in (model.ray.storage_path or ""):
        problems.append("spec.sources: the source prompts are handed to trials as files under spec.ray.storage_path, "
                        "which must be a folder every node sees (not a URL) for now")


def _staged_checks(model, spec, mixers: list[str], problems: list[str]) -> None:
    """sources: {sweep: this}: the producing cells must be in this grid, one per source task, model
    and dropout setting, with the consumers' n_tokens."""
    producer, where = model.sources.method, "spec.sources"
    if producer in mixers:
        problems.append(f"{where}.method: {producer} consumes source prompts itself; name the method that trains "
                        "them (prompt_tuning)")
        return
    if producer not in spec.methods:
        problems.append(f"{where}.method: {producer} is not in spec.methods, so this sweep trains no source prompts; "
                        f"add it, or name an earlier sweep in {where}.sweep")
        return
    if spec.option_sets(producer) > 1:
        problems.append(f"{where}.method: {producer} has {spec.option_sets(producer)} cells per task (its "
                        "method_grid), so a source prompt would be ambiguous; give it one option set")
    made_with = spec.dropout_for(producer)
    if model.sources.dropout is not None and model.sources.dropout not in spec.dropout:
        problems.append(f"{where}.dropout: {on_off([model.sources.dropout])} is not in spec.dropout")
    elif model.sources.dropout is not None and model.sources.dropout not in made_with:
        problems.append(f"{where}.dropout: {on_off([model.sources.dropout])} is not a dropout setting of "
                        f"{producer}'s cells ({on_off(made_with)})")
    if model.sources.dropout is None:  # each consuming cell takes the sources trained with its own setting
        for method in mixers:
            missing = [d for d in spec.dropout_for(method) if d not in made_with]
            if missing:
                problems.append(f"{where}.dropout: {method} runs dropout {on_off(missing)}, "
                                f"but {producer} does not, so those cells would have no source prompts; set "
                                f"{where}.dropout or spec.method_dropout")
    made = get_method_config(producer, spec.method_params.get(producer, {}))
    for method in mixers:
        wants = get_method_config(method, spec.method_params.get(method, {}))
        missing = [t for t in wants.sources if t not in spec.tasks]
        if missing:
            problems.append(f"spec.method_params.{method}.sources: {', '.join(missing)} not in spec.tasks, so this "
                            f"sweep trains no source prompt there; add them to spec.tasks")
        if getattr(made, "n_tokens", None) != wants.n_tokens:
            problems.append(f"spec.method_params.{method}.n_tokens: {wants.n_tokens}, but its sources ({producer}) "
                            f"have {getattr(made, 'n_tokens', None)} tokens; they must match")



def grid_note(spec) -> str:
    """What the cross product leaves out ('' when nothing): a source-mixing method's source tasks, the
    dropout settings spec.method_dropout leaves out."""
    skipped = {m: [t for t in spec.tasks if t not in spec.tasks_for(m)] for m in spec.methods}
    fewer = {m: spec.dropout_for(m) for m in spec.methods if spec.dropout_for(m) != spec.dropout}
    return ("".join(f"; {m} skips its source task{'s' if len(ts) > 1 else ''} {', '.join(ts)}"
                    for m, ts in skipped.items() if ts)
            + "".join(f"; {m} runs dropout {on_off(ds, ' and ')} only"
                      for m, ds in fewer.items()))


def stage_lines(spec, cells: list) -> list[str]:
    """A staged sweep's two stages in words (none otherwise)."""
    if not spec.staged:
        return []
    waiting = [c for c in cells if c.sources]
    producers = sorted({key for c in waiting for _, key in c.sources})
    return [f"stage 1: {len(producers)} {spec.sources.method} cells train the source prompts "
            f"({', '.join(sorted({k.split('|')[1] for k in producers}))}); the other cells run alongside",
            f"stage 2: {len(waiting)} cell{'s' if len(waiting) != 1 else ''} "
            f"({', '.join(sorted({c.method for c in waiting}))}) wait{'s' if len(waiting) == 1 else ''} for "
            "their sources' searches and start as soon as each has a chosen trial"]
