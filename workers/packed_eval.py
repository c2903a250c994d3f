"""Several pack members evaluated together on the shared frozen T5: stacked encoder passes over
token-budgeted batches, then one greedy decoding (`generate`) or one decoder pass per set of label
words (`rank`).

A pack's members whose epochs end in the same step (members on one task end together) are
evaluated here instead of one after another. Every example of every member's splits goes into one
pool, sorted by encoder width (its member's prompt, then its input, as in training:
workers/packed_step.py) and cut into passes of at most `token_budget` encoder tokens: short inputs
go many to a pass, long ones few, and little is padding. With `buckets` (a compiled pack) widths
round up to the training step's buckets (workers/shapes.py) and a pass holds budget // width rows
(the pool's short last pass: the next power of two; masked filler rows at the end), so a compiled
encoder sees one shape per width bucket and one more.

`generate` decodes a pass at once from its encoder output (greedy, the longest member's token
budget; a member keeps the first tokens its own budget allows, which greedy decoding makes the same
as decoding fewer); `rank` scores the labels of all members that share label words in one decoder
pass. Rows never mix in T5, so each member's answers are those of its own evaluation
(workers/evaluation.py; tests/test_packed_eval.py checks every task under both modes).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
from transformers.modeling_outputs import BaseModelOutput

from workers.batching import Encoded, collate
from workers.evaluation import is_ranked, score_outputs, target_tokens
from workers.packed_step import filler_rows, member_rows, stack_rows
from workers.prompt_model import label_scores
from workers.shapes import encoder_bucket, power_of_two
from workers.tasks import TaskSpec


@dataclass
class EvalJob:
    """One member's evaluation of one split."""

    method: object  # the member's prompt method (PromptMethod)
    task: TaskSpec
    data: Encoded
    batch_size: int
    mode: str  # generate | rank
    budget: int = 0  # generated tokens at most (set by `prepared`)
    label_ids: list = field(default_factory=list)  # rank: each label's token ids (set by `prepared`)

    @property
    def ranked(self) -> bool:
        return is_ranked(self.task, self.mode)

    @property
    def prompt_tokens(self) -> int:
        return self.method.n_tokens if self.method is not None else 0

    def widths(self) -> list[int]:
        """Each example's encoder width: prompt tokens + input tokens."""
        return [self.prompt_tokens + len(ids) for ids in self.data.input_ids]

    def prepared(self, tokenizer) -> EvalJob:
        """With what every batch needs, tokenized once: the token budget and each label's ids."""
        self.budget = target_tokens(self.task, tokenizer)
        self.label_ids = [tokenizer(w)["input_ids"] for w in self.task.label_words] if self.ranked else []
        return self


@dataclass(frozen=True)
class Pass:
    """One stacked encoder pass: (job, example indices) per member part, its width and its rows."""

    parts: tuple[tuple[int, tuple[int, ...]], ...]
    width: int
    rows: int  # rows computed (filler included, with buckets)


def token_budget(jobs: list[EvalJob]) -> int:
    """Encoder tokens per pass: what the jobs' own batches at their widest inputs stack to, i.e. the
    most the members' evaluations one after another, or batch by batch stacked, ever hold at once."""
    return sum(job.batch_size * max(job.widths(), default=1) for job in jobs)


def passes(widths: list[list[int]], budget: int, buckets: bool = False) -> list[Pass]:
    """The pool of every job's examples (`widths[j][i]`: example i of job j), widest first, cut into
    passes of at most `budget` tokens (rows x width; a pass always takes at least one example).
    `buckets`: widths rounded up with shapes.encoder_bucket (never past the widest example) and a pass
    padded to budget // width rows, the pool's short last one to the next power of two: one shape
    per width bucket and one more, and little filler."""
    widest = max((w for ws in widths for w in ws), default=1)
    pool = sorted(((w, j, i) for j, ws in enumerate(widths) for i, w in enumerate(ws)), key=lambda t: (-t[0], t[1], t[2]))
    out, start = [], 0
    while start < len(pool):
        width = encoder_bucket(pool[start][0], widest) if buckets else pool[start][0]
        cap = max(1, budget // width)
        taken = pool[start:start + cap]
        start += len(taken)
        by_job: dict[int, list[int]] = {}
        for _, j, i in sorted(taken, key=lambda t: (t[1], t[2])):
            by_job.setdefault(j, []).append(i)
        rows = len(taken)
        if buckets:  # a full pass, or the pool's short last one: the next power of two (not a pass of filler)
            rows = min(cap, power_of_two(rows))
        out.append(Pass(tuple((j, tuple(idx)) for j, idx in by_job.items()), width, rows))
    return out


def _stacked(t5, jobs: list[EvalJob], one: Pass, pad_id: int, device):
    """(embeddings, mask, each part's row count) of a pass: every part its own prompt then its inputs,
    padded to the pass's width and rows (filler rows attend to their first slot only)."""
    pieces = [member_rows(t5, jobs[j].method, collate(jobs[j].data, list(idx), pad_id), device) for j, idx in one.parts]
    embeds, mask = filler_rows(*stack_rows(pieces, one.width), one.rows)
    return embeds, mask, [e.shape[0] for e, _ in pieces]


def _generated(t5, tokenizer, jobs, parts, hidden, mask, sizes) -> list[list]:
    budget = max(jobs[j].budget for j, _ in parts)
    tokens = t5.generate(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), attention_mask=mask,
                         max_new_tokens=budget, do_sample=False, num_beams=1)
    found, start = [], 0
    for (j, _), size in zip(parts, sizes):
        own = tokens[start:start + size, : 1 + jobs[j].budget]  # after the decoder's start token
        found.append(tokenizer.batch_decode(own, skip_special_tokens=True))
        start += size
    return found


def _ranked(t5, jobs, parts, hidden, mask, sizes) -> list[list]:
    """One decoder pass per set of label words (members of one task share theirs, so a pack on one
    task scores all its rows at once)."""
    bounds = [0, *itertools.accumulate(sizes)]
    by_labels: dict[tuple, list[int]] = {}
    for k, (j, _) in enumerate(parts):
        by_labels.setdefault(jobs[j].task.label_words, []).append(k)
    found: dict[int, list] = {}
    for ks in by_labels.values():
        rows = torch.cat([torch.arange(bounds[k], bounds[k + 1]) for k in ks]).to(hidden.device)
        best = label_scores(t5, hidden[rows], mask[rows], jobs[parts[ks[0]][0]].label_ids).argmax(-1).tolist()
        start = 0
        for k in ks:
            size = bounds[k + 1] - bounds[k]
            found[k], start = best[start:start + size], start + size
    return [found[k] for k in range(len(parts))]


def _answers(t5, tokenizer, jobs: list[EvalJob], one: Pass, encoder, device) -> list[list]:
    """Each part's answers: one encoder pass, then the generating parts decoded together and the
    ranking ones scored."""
    embeds, mask, sizes = _stacked(t5, jobs, one, tokenizer.pad_token_id, device)
    hidden = encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    bounds = [0, *itertools.accumulate(sizes)]
    out: dict[int, list] = {}
    for ranked in (False, True):
        chosen = [k for k, (j, _) in enumerate(one.parts) if jobs[j].ranked == ranked]
        if not chosen:
            continue
        rows = torch.cat([torch.arange(bounds[k], bounds[k + 1]) for k in chosen]).to(hidden.device)
        parts, part_sizes = [one.parts[k] for k in chosen], [sizes[k] for k in chosen]
        found = (_ranked(t5, jobs, parts, hidden[rows], mask[rows], part_sizes) if ranked else
                 _generated(t5, tokenizer, jobs, parts, hidden[rows], mask[rows], part_sizes))
        out.update(zip(chosen, found))
    return [out[k] for k in range(len(one.parts))]


@torch.no_grad()
def outputs_together(t5, tokenizer, jobs: list[EvalJob], device, encoder=None, buckets: bool = False) -> list[list]:
    """Each job's answers (as workers.evaluation.outputs gives them), computed in stacked passes.
    `encoder`: the T5's encoder, compiled (default: its own, eager); `buckets`: bucketed pass shapes
    (for a compiled encoder)."""
    was_training = t5.training
    t5.eval()
    jobs = [job.prepared(tokenizer) for job in jobs]
    found: list[list] = [[None] * len(job.data) for job in jobs]
    for one in passes([job.widths() for job in jobs], token_budget(jobs), buckets):
        for (j, idx), answers in zip(one.parts, _answers(t5, tokenizer, jobs, one, t5.get_encoder() if encoder is None else encoder, device)):
            for i, answer in zip(idx, answers):
                found[j][i] = answer
    t5.train(was_training)
    return found


def evaluate_together(t5, tokenizer, jobs: list[EvalJob], device, encoder=None, buckets: bool = False) -> list[dict]:
    """Each job's metrics, as workers.evaluation.evaluate returns them."""
    answers = outputs_together(t5, tokenizer, jobs, device, encoder, buckets)
    return [score_outputs(job.task, job.data, found, job.ranked) for job, found in zip(jobs, answers)]
