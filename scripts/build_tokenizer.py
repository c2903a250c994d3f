"""Train the small offline tokenizer that the embedded tiny T5 uses, and save it into the repo.

T5-style pieces (BPE over Metaspace words: on a corpus this small, Unigram's trainer stops at a
few hundred pieces), ids 0/1/2 = <pad>/</s>/<unk>, and </s> appended to
every sequence. Trained on the bundled demo data plus every template key and label word of the task
table, so that all demo inputs and targets tokenize without <unk>. Deterministic for a given corpus.

    python scripts/make_demo_data.py && python scripts/build_tokenizer.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "workers" / "assets" / "tokenizer"
VOCAB_SIZE = 1000


def corpus() -> list[str]:
    """Every demo input and target exactly as the model sees them, plus every label word."""
    sys.path.insert(0, str(ROOT))
    from workers.data import DEMO_DATA_DIR, format_input, format_target
    from workers.tasks import TASKS

    lines: list[str] = []
    for task in TASKS.values():
        for path in sorted((DEMO_DATA_DIR / task.name).glob("*.jsonl")):
            for row in map(json.loads, path.read_text().splitlines()):
                lines += [format_input(task, row), format_target(task, row["label"])]
        lines.extend(task.label_words)
    lines.extend(f"{x / 10:.1f}" for x in range(0, 51))
    return lines


def main() -> None:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("  ", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=["<pad>", "</s>", "<unk>"], show_progress=False
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(OUT)
    print(f"saved a {len(fast)}-token tokenizer to {OUT}")


if __name__ == "__main__":
    main()
