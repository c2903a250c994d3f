"""What is wrong with a model folder, said before a sweep starts (and again where a trial loads it):
weights cut short (an interrupted download or copy) and a folder with no tokenizer.

transformers 5 loads a T5 folder that has no tokenizer files without complaint: it builds an empty
T5Tokenizer from the config (104 tokens: the specials and the 100 sentinels), which splits text into
characters it mostly does not know. A prompt trained on that would be trained on noise. A model's
tokenizer fills its embedding table but for the padding to a multiple of 64 or 128 (T5: 32,100 tokens,
32,128 rows), so a tokenizer far smaller than the table is not the model's.
"""

from __future__ import annotations

import json
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "spiece.model")
PADDING_ROWS = 128  # at most this many embedding rows beyond the tokenizer's (T5 pads its table to 128s)


def safetensors_problem(path: Path) -> str | None:
    """A .safetensors file whose size is not what its header describes (cut short, or not one)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if length < 0 or length > size - 8:
            return f"{path}: {size:,} bytes, not a complete safetensors file (its header is cut short)"
        try:
            header = json.loads(fh.read(length))
        except ValueError:
            return f"{path}: its header is not readable JSON; not a safetensors file, or a damaged one"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + length + end != size:
        return (f"{path}: {size:,} bytes where its header describes {8 + length + end:,}: the file is cut short "
                "(an interrupted download or copy?); fetch it again")
    return None


def folder_problem(folder: Path) -> str | None:
    """A local model folder's weights (every shard its index names) and tokenizer files."""
    for index in folder.glob("*.safetensors.index.json"):
        shards = sorted(set(json.loads(index.read_text()).get("weight_map", {}).values()))
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            return f"{index}: names shards that are not in the folder: {', '.join(missing)}"
    for weights in sorted(folder.glob("*.safetensors")):
        problem = safetensors_problem(weights)
        if problem:
            return problem
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        return (f"{folder}: no tokenizer ({' or '.join(TOKENIZER_FILES)}); transformers would make an empty one "
                "from the config and the trials would read text as unknown characters. Save the model's tokenizer "
                "beside it (tokenizer.save_pretrained(folder))")
    return None


def tokenizer_problem(name: str, tokens: int, rows: int) -> str | None:
    """A tokenizer of `tokens` tokens for a model whose embedding table has `rows` rows."""
    if rows - PADDING_ROWS <= tokens <= rows:
        return None
    return (f"{name!r}: its tokenizer has {tokens:,} tokens but the model's embedding table has {rows:,} rows, so it "
            f"is not the model's tokenizer (a folder without {' or '.join(TOKENIZER_FILES)} gets an empty one); "
            "save the model's own tokenizer beside it")
