"""Pretrain the embedded model `tiny-t5-lm-adapt` and save its weights into the repo.

Made as T5 v1.1 LM-adapted was made, in miniature: span corruption (15% of the tokens in spans of
mean length 3, each span replaced by a sentinel, 1,500 steps), then LM adaptation (a prefix of a
document in, its continuation out, 1,500 steps), then LM adaptation with instructions in half of
each batch (9,000 steps). The text (scripts/tiny_corpus.py) is generated about the demo's small
world (scripts/make_demo_data.py's lexicon): narration, restatements with synonyms, negations,
questions and their answers, which words are good or bad, which word orders are sentences; the
instructions ask for the relations the demo tasks test, in the corpus's own wording ("say if the
story is positive or negative. ..."), answered with the task table's label words. It never reads
the demo data and holds no task's input format ("premise: ..."). So a frozen `tiny-t5-lm-adapt`
knows the world and can be asked about it; a prompt must learn to ask in each task's format. That
makes it closer to an instruction-tuned T5 (Flan-T5) than to the LM-adapted checkpoint the paper
tunes: a world this small has no other text from which to learn what its tasks ask.

Deterministic for one machine, torch version and thread count (seeded data and init, 2 threads). The weights are
stored in float16 (small in the repo, and the loader checks their sha256 in workers/presets.py).

    python -m scripts.pretrain_tiny_t5              # 23 minutes on 2 CPU cores (12,000 steps of 32)
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from pathlib import Path

import torch

from scripts import first_paragraph
from scripts.tiny_corpus import document, instruction
from workers.presets import EMBEDDED_WEIGHTS

NAME = "tiny-t5-lm-adapt"
SEED = 20240608


def span_corrupt(ids: list[int], rng: random.Random, first_sentinel: int, n_sentinels: int):
    """T5's objective: ~15% of the tokens in spans of mean length 3, each span -> one sentinel."""
    n = len(ids)
    n_noise = max(1, round(n * 0.15))
    n_spans = max(1, min(n_sentinels, round(n_noise / 3)))
    starts = sorted(rng.sample(range(n), n_spans))
    inp, tgt, pos = [], [], 0
    for k, start in enumerate(starts):
        if start < pos:
            continue
        end = min(n, start + rng.randint(1, 5))
        inp += ids[pos:start] + [first_sentinel + k]
        tgt += [first_sentinel + k] + ids[start:end]
        pos = end
    return inp + ids[pos:], tgt


def prefix_lm(ids: list[int], rng: random.Random, full_stop: int):
    """A prefix in, its continuation out: mostly cut after the first sentence, else anywhere."""
    stops = [i + 1 for i, t in enumerate(ids[:-2]) if t == full_stop]
    cut = stops[0] if stops and rng.random() < 0.7 else rng.randint(1, max(1, len(ids) - 2))
    return ids[:cut], ids[cut:]


def _batch(pairs, pad: int, eos: int):
    inputs = [p[0] + [eos] for p in pairs]
    targets = [p[1] + [eos] for p in pairs]
    width_in, width_out = max(map(len, inputs)), max(map(len, targets))
    x = torch.tensor([i + [pad] * (width_in - len(i)) for i in inputs])
    y = torch.tensor([t + [-100] * (width_out - len(t)) for t in targets])
    return x, (x != pad).long(), y


def pretrain(span_steps: int, lm_steps: int, instruction_steps: int = 0, batch_size: int = 32, lr: float = 3e-3,
             log=print):
    """Three phases: span corruption, LM adaptation, then LM adaptation with instructions (half of each
    batch), from the model's seeded initial weights."""
    from workers.models import load_model

    torch.set_num_threads(2)  # the same thread count gives the same reductions
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    loaded = load_model(NAME, random_weights=True)
    model, tok = loaded.model, loaded.tokenizer
    first_sentinel = loaded.real_vocab  # the embedding rows past the tokenizer's: T5's <extra_id_k>
    n_sentinels = model.config.vocab_size - first_sentinel
    full_stop = tok.convert_tokens_to_ids(".")

    def ids(text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    def pairs(phase: str) -> list:
        if phase == "span corruption":
            return [span_corrupt(ids(document(rng)), rng, first_sentinel, n_sentinels) for _ in range(batch_size)]
        out = [prefix_lm(ids(document(rng)), rng, full_stop) for _ in range(batch_size)]
        if phase == "instructions":
            out[: batch_size // 2] = [tuple(map(ids, instruction(rng))) for _ in range(batch_size // 2)]
        return out

    phases = [p for p, n in (("span corruption", span_steps), ("LM adaptation", lm_steps),
                             ("instructions", instruction_steps)) for _ in range(n)]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    total = len(phases)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 200) * max(0.05, 1 - s / total))
    model.train()
    start = time.time()
    for step, phase in enumerate(phases):
        x, mask, y = _batch(pairs(phase), tok.pad_token_id, tok.eos_token_id)
        loss = model(input_ids=x, attention_mask=mask, labels=y).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == total - 1:
            log(f"step {step:5d}/{total} {phase:15s} loss {loss.item():.3f} ({time.time() - start:.0f} s)")
    return model


def save(model, path: Path) -> str:
    from safetensors.torch import save_file

    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    state.pop("encoder.embed_tokens.weight", None)  # tied to shared.weight (rebuilt on load)
    state.pop("decoder.embed_tokens.weight", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--span-steps", type=int, default=1500)
    parser.add_argument("--lm-steps", type=int, default=1500)
    parser.add_argument("--instruction-steps", type=int, default=9000)
    parser.add_argument("--out", type=Path, default=EMBEDDED_WEIGHTS[NAME][0],
                        help="the safetensors file to write (default: the one the loader reads)")
    args = parser.parse_args(argv)
    model = pretrain(args.span_steps, args.lm_steps, args.instruction_steps)
    digest = save(model, args.out)
    print(f"saved {args.out} sha256 {digest}")
    if digest != EMBEDDED_WEIGHTS[NAME][1]:
        print("the sha256 differs from workers/presets.py's EMBEDDED_WEIGHTS: update it if this build is the new one")


if __name__ == "__main__":
    main()
