"""Write the bundled demo copy of every task: small, synthetic, in the hub's own schema.

The examples are made from one small lexicon with a simple, learnable rule per task, so that the
offline pipeline has something to fit. They are not the real GLUE/SuperGLUE data and their numbers
mean nothing about the paper. Deterministic: re-running rewrites identical files.

    python scripts/make_demo_data.py            # writes workers/demo_data/<task>/<split>.jsonl
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "workers" / "demo_data"
SIZES = {"train": 256, "validation": 64}

NOUNS = ["cat", "dog", "teacher", "child", "farmer", "river", "city", "garden", "doctor", "bird",
         "student", "painter", "ship", "forest", "king", "singer", "baker", "horse", "village", "lamp"]
VERBS = ["sees", "likes", "follows", "paints", "visits", "finds", "helps", "watches", "carries", "builds"]
GOOD = ["wonderful", "great", "lovely", "brilliant", "charming", "delightful", "superb", "pleasant"]
BAD = ["terrible", "awful", "boring", "dreadful", "poor", "painful", "ugly", "dull"]
PLACES = ["near the river", "in the city", "at home", "in the garden", "by the sea", "on the hill"]
SYNONYMS = {"sees": "notices", "likes": "enjoys", "follows": "tracks", "paints": "draws",
            "visits": "calls on", "finds": "discovers", "helps": "assists", "watches": "observes",
            "carries": "holds", "builds": "makes"}


def clause(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(NOUNS), rng.choice(VERBS), rng.choice(NOUNS)


def say(s: str, v: str, o: str) -> str:
    return f"the {s} {v} the {o}"


def other_clause(rng: random.Random, c: tuple[str, str, str]) -> tuple[str, str, str]:
    while (d := clause(rng)) == c:
        pass
    return d


def sst2(rng, i):
    label = rng.randint(0, 1)
    adj = rng.choice(GOOD if label else BAD)
    s, _, _ = clause(rng)
    return {"sentence": f"a {adj} story about the {s} {rng.choice(PLACES)}", "label": label, "idx": i}


def cola(rng, i):
    label = rng.randint(0, 1)
    words = f"{say(*clause(rng))} {rng.choice(PLACES)}".split()
    if not label:
        rng.shuffle(words)
    return {"sentence": " ".join(words), "label": label, "idx": i}


def _pair(rng, i, keys):
    c = clause(rng)
    label = rng.randint(0, 1)
    second = say(c[0], SYNONYMS[c[1]], c[2]) if label else say(*other_clause(rng, c))
    return {keys[0]: say(*c) + ".", keys[1]: second + ".", "label": label, "idx": i}


def mrpc(rng, i):
    return _pair(rng, i, ("sentence1", "sentence2"))


def qqp(rng, i):
    ex = _pair(rng, i, ("question1", "question2"))
    ex["question1"] = "why " + ex["question1"].rstrip(".") + "?"
    ex["question2"] = "why " + ex["question2"].rstrip(".") + "?"
    return ex


def stsb(rng, i):
    a, b = clause(rng), clause(rng)
    shared = rng.randint(0, 3)
    b = tuple(a[k] if k < shared else b[k] for k in range(3))
    score = round(5.0 * sum(x == y for x, y in zip(a, b)) / 3, 2)
    return {"sentence1": say(*a) + ".", "sentence2": say(*b) + ".", "label": score, "idx": i}


def _nli(rng, i, labels):
    """labels: the dataset's label index of (entailment, neutral, contradiction)."""
    c = clause(rng)
    place = rng.choice(PLACES)
    kind = rng.randint(0, len(labels) - 1)
    hyp = [say(*c), say(*other_clause(rng, c)), f"the {c[0]} never {c[1].rstrip('s')} the {c[2]}"][kind]
    return {"premise": f"{say(*c)} {place}.", "hypothesis": hyp + ".", "label": labels[kind], "idx": i}


def mnli(rng, i):
    return _nli(rng, i, (0, 1, 2))


def cb(rng, i):
    return _nli(rng, i, (0, 2, 1))  # super_glue/cb: 0 entailment, 1 contradiction, 2 neutral


def rte(rng, i):
    return _nli(rng, i, (0, 1))  # 0 entailment, 1 not_entailment


def qnli(rng, i):
    c = clause(rng)
    label = rng.randint(0, 1)  # 0 entailment: the sentence answers the question
    subj = c[0] if label == 0 else other_clause(rng, c)[0]
    return {"question": f"what does the {c[0]} {c[1].rstrip('s')}?",
            "sentence": f"the {subj} {c[1]} the {c[2]} {rng.choice(PLACES)}.", "label": label, "idx": i}


def boolq(rng, i):
    n, adj = rng.choice(NOUNS), rng.choice(GOOD + BAD)
    label = rng.randint(0, 1)
    asked = adj if label else rng.choice([a for a in GOOD + BAD if a != adj])
    return {"question": f"is the {n} {asked}", "passage": f"the {n} {rng.choice(PLACES)} is {adj}.",
            "idx": i, "label": label}


def copa(rng, i):
    n = rng.choice(NOUNS)
    good, bad = rng.choice(GOOD), rng.choice(BAD)
    label = rng.randint(0, 1)
    question = rng.choice(["cause", "effect"])
    right, wrong = f"the {n} was {good}.", f"the {n} was {bad}."
    choices = (wrong, right) if label else (right, wrong)
    return {"premise": f"everyone smiled at the {n}.", "choice1": choices[0], "choice2": choices[1],
            "question": question, "idx": i, "label": label}


def wic(rng, i):
    word = rng.choice(VERBS)
    label = rng.randint(0, 1)
    s1 = f"the {rng.choice(NOUNS)} {word} the {rng.choice(NOUNS)}."
    s2 = f"the {rng.choice(NOUNS)} {word} the {rng.choice(NOUNS)}." if label else f"{word} is a word."
    start1, start2 = s1.index(word), s2.index(word)
    return {"word": word, "sentence1": s1, "sentence2": s2, "start1": start1, "start2": start2,
            "end1": start1 + len(word), "end2": start2 + len(word), "idx": i, "label": label}


def multirc_rows(rng, i):
    """One question with three answer options: the hub stores one row per option."""
    c = clause(rng)
    paragraph = f"{say(*c)} {rng.choice(PLACES)}. the {rng.choice(NOUNS)} is {rng.choice(GOOD)}."
    rows = []
    for a in range(3):
        label = rng.randint(0, 1)
        answer = f"the {c[2]}" if label else f"the {other_clause(rng, c)[2]}"
        rows.append({"paragraph": paragraph, "question": f"what does the {c[0]} {c[1].rstrip('s')}?",
                     "answer": answer, "idx": {"paragraph": i, "question": 0, "answer": a},
                     "label": int(answer == f"the {c[2]}")})
    return rows


GENERATORS = {"sst2": sst2, "cola": cola, "mrpc": mrpc, "qqp": qqp, "stsb": stsb, "mnli": mnli,
              "qnli": qnli, "rte": rte, "cb": cb, "boolq": boolq, "copa": copa, "wic": wic,
              "multirc": multirc_rows}
SPLITS = {"mnli": {"train": "train", "validation": "validation_matched"}}


def main() -> None:
    for task, gen in sorted(GENERATORS.items()):
        for split, size in SIZES.items():
            rng = random.Random(f"{task}-{split}")
            rows = []
            for i in range(size if task != "multirc" else size // 3):
                made = gen(rng, i)
                rows.extend(made if isinstance(made, list) else [made])
            name = SPLITS.get(task, {}).get(split, split)
            path = OUT / task / f"{name}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote demo data for {len(GENERATORS)} tasks under {OUT}")


if __name__ == "__main__":
    main()
