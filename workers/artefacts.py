"""A trial's learned prompt as artefacts: what a member sends with its epoch report, and how one
tensor is kept (a safetensors file of its own, named by its sha256).

Per epoch a prompt-method member sends the (n, d_model) prompt it feeds the encoder (the `final`
candidate: a few KB to tens of KB) and, only when its validation peak moved that epoch, the `peak`
set: that prompt again plus the method's whole state (`state/<name>`: every parameter and buffer,
enough to rebuild the method, e.g. SuperPos's E_i, p'_i and its sampled token ids). The driver
stores them (db/writer.py): a trial's `final` rows are replaced each epoch, its `peak` rows when
the peak moves. Full fine-tuning has no prompt and sends none.
"""

from __future__ import annotations

import hashlib

import torch

PROMPT = "prompt"  # the (n, d_model) matrix prepended to the encoder's input
STATE = "state/"  # prefix of the method's state tensors
TENSOR = "tensor"  # the key of the one tensor inside each artefact's safetensors file


def encode(tensor: torch.Tensor) -> bytes:
    from safetensors.torch import save

    return save({TENSOR: tensor.detach().to("cpu").contiguous()})


def decode(data: bytes) -> torch.Tensor:
    from safetensors.torch import load

    return load(data)[TENSOR]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artefact(name: str, tensor: torch.Tensor) -> dict:
    """{name, shape, dtype, data}: plain values, so it travels through Ray in a report."""
    return {"name": name, "shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch."),
            "data": encode(tensor)}


@torch.no_grad()
def epoch_artefacts(method, peak_moved: bool) -> dict[str, list[dict]]:
    """{"final": [the prompt]} and, when the peak moved, {"peak": [the prompt, the method's state]}.
    Empty without a method (full fine-tuning)."""
    if method is None:
        return {}
    prompt = artefact(PROMPT, method.exported_prompt().float())
    out = {"final": [prompt]}
    if peak_moved:
        out["peak"] = [prompt, *(artefact(STATE + name, t) for name, t in method.state_dict().items())]
    return out


def prompt_sha256(tensor: torch.Tensor) -> str:
    """The content hash of a prompt as the store keeps it (its float32 artefact file): the same for the
    stored row, an artefact file and a PEFT adapter holding that prompt."""
    return sha256(encode(tensor.detach().float()))


def load_prompt(path: str) -> torch.Tensor:
    """A prompt from a file: an artefact file (one tensor, as the store keeps it), a safetensors file
    with `prompt_embeddings`, or a PEFT adapter folder (`superpos export prompt` writes one)."""
    from pathlib import Path

    from safetensors.torch import load_file

    file = Path(path).expanduser()
    if file.is_dir():
        file = file / "adapter_model.safetensors"
    if not file.is_file():
        raise FileNotFoundError(f"no prompt at {path}: give an artefact file or a PEFT adapter folder "
                                "(superpos export prompt writes one)")
    tensors = load_file(str(file))
    for key in (TENSOR, "prompt_embeddings"):
        if key in tensors:
            return tensors[key].float()
    raise ValueError(f"{file} holds no prompt (keys {', '.join(sorted(tensors))}; expected {TENSOR!r} or "
                     "'prompt_embeddings')")
