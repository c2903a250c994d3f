"""Per-process caches that let one worker process serve many trials without repeating their set-up.

Ray Tune reuses a worker process across trials (`reuse_actors=True`); a one-epoch trial on a small
model otherwise spends most of its time loading the frozen T5 and tokenizing its split again. The
frozen model is shared only by prompt methods, which never change its weights (each trial sets its
own dropout rates); full fine-tuning always loads a fresh copy. One model is kept (models are large),
and a few encoded splits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

MAX_SPLITS = 16
_models: OrderedDict[Hashable, Any] = OrderedDict()
_splits: OrderedDict[Hashable, Any] = OrderedDict()


def _get(store: OrderedDict, key: Hashable, build: Callable[[], Any], size: int) -> Any:
    if key in store:
        store.move_to_end(key)
        return store[key]
    while len(store) >= size:
        store.popitem(last=False)
    store[key] = value = build()
    return value


def frozen_model(key: Hashable, build: Callable[[], Any]) -> Any:
    """The process's frozen model for `key` (model name, precision), built once."""
    return _get(_models, key, build, 1)


def encoded_splits(key: Hashable, build: Callable[[], Any]) -> Any:
    return _get(_splits, key, build, MAX_SPLITS)


def clear() -> None:
    _models.clear()
    _splits.clear()
