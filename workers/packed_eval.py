"""Several pack members evaluated together on the shared frozen T5: one stacked encoder pass per
batch, then one greedy decoding (`generate`) or one decoder pass per set of label words (`rank`).

A pack's members whose epochs end in the same step (members on one task end together) are
evaluated here instead of one after another: batch b of every member (its prompt, then its inputs,
as in training: workers/packed_step.py) is stacked into one encoder pass, and `generate` decodes all
of them at once with the cached encoder output (greedy, the longest member's token budget; a member
keeps the first tokens its own budget allows, which greedy decoding makes the same as decoding
fewer); `rank` scores the labels of all members that share label words in one decoder pass. Rows
never mix in T5, so each member's answers are those of its own evaluation (workers/evaluation.py;
tests/test_packed_eval.py checks every task under both modes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from workers.batching import Encoded, batches
from workers.evaluation import is_ranked, score_outputs, target_tokens
from workers.packed_step import member_rows, stack_rows
from workers.prompt_model import label_scores
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

    def prepared(self, tokenizer) -> EvalJob:
        """With what every batch needs, tokenized once: the token budget and each label's ids."""
        self.budget = target_tokens(self.task, tokenizer)
        self.label_ids = [tokenizer(w)["input_ids"] for w in self.task.label_words] if self.ranked else []
        return self


def _generated(t5, tokenizer, jobs: list[EvalJob], parts: list[tuple[int, dict]], device) -> list[list]:
    pieces = [member_rows(t5, jobs[j].method, batch, device) for j, batch in parts]
    embeds, mask = stack_rows(pieces)
    budget = max(jobs[j].budget for j, _ in parts)
    tokens = t5.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=budget, do_sample=False, num_beams=1)
    found, start = [], 0
    for (j, _), (e, _) in zip(parts, pieces):
        end = start + e.shape[0]
        own = tokens[start:end, : 1 + jobs[j].budget]  # after the decoder's start token
        found.append(tokenizer.batch_decode(own, skip_special_tokens=True))
        start = end
    return found


def _ranked(t5, tokenizer, jobs: list[EvalJob], parts: list[tuple[int, dict]], device) -> list[list]:
    """One encoder pass for every part; one decoder pass per set of label words (members of one task
    share theirs, so a pack on one task scores all its rows at once)."""
    pieces = [member_rows(t5, jobs[j].method, batch, device) for j, batch in parts]
    embeds, mask = stack_rows(pieces)
    hidden = t5.get_encoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    bounds = [0]
    for e, _ in pieces:
        bounds.append(bounds[-1] + e.shape[0])
    by_labels: dict[tuple, list[int]] = {}
    for k, (j, _) in enumerate(parts):
        by_labels.setdefault(jobs[j].task.label_words, []).append(k)
    found: dict[int, list] = {}
    for ks in by_labels.values():
        rows = torch.cat([torch.arange(bounds[k], bounds[k + 1]) for k in ks]).to(hidden.device)
        label_ids = jobs[parts[ks[0]][0]].label_ids
        best = label_scores(t5, hidden[rows], mask[rows], label_ids).argmax(-1).tolist()
        start = 0
        for k in ks:
            size = bounds[k + 1] - bounds[k]
            found[k], start = best[start:start + size], start + size
    return [found[k] for k in range(len(parts))]


def _predict(t5, tokenizer, jobs: list[EvalJob], parts: list[tuple[int, dict]], device) -> list[list]:
    """Predictions of each (job index, batch) in `parts`, in order: the generating members in one
    stacked pass, the ranking ones in another."""
    out: dict[int, list] = {}
    for kind in (_generated, _ranked):
        chosen = [k for k, (j, _) in enumerate(parts) if jobs[j].ranked == (kind is _ranked)]
        if chosen:
            out.update(zip(chosen, kind(t5, tokenizer, jobs, [parts[k] for k in chosen], device)))
    return [out[k] for k in range(len(parts))]


@torch.no_grad()
def outputs_together(t5, tokenizer, jobs: list[EvalJob], device) -> list[list]:
    """Each job's answers (as workers.evaluation.outputs gives them), computed in stacked passes."""
    was_training = t5.training
    t5.eval()
    jobs = [job.prepared(tokenizer) for job in jobs]
    cut = [batches(job.data, job.batch_size, tokenizer.pad_token_id) for job in jobs]
    found: list[list] = [[None] * len(job.data) for job in jobs]
    for b in range(max(len(c) for c in cut)):
        parts = [(j, c[b][1]) for j, c in enumerate(cut) if b < len(c)]
        for (j, _), answers in zip(parts, _predict(t5, tokenizer, jobs, parts, device)):
            for i, answer in zip(cut[j][b][0], answers):
                found[j][i] = answer
    t5.train(was_training)
    return found


def evaluate_together(t5, tokenizer, jobs: list[EvalJob], device) -> list[dict]:
    """Each job's metrics, as workers.evaluation.evaluate returns them."""
    answers = outputs_together(t5, tokenizer, jobs, device)
    return [score_outputs(job.task, job.data, found, job.ranked) for job, found in zip(jobs, answers)]
