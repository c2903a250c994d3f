"""The text `tiny-t5-lm-adapt` is pretrained on (scripts/pretrain_tiny_t5.py): generated passages
about the demo's small world (scripts/make_demo_data.py's lexicon), and instructions in the corpus's
own wording that ask for the relations the demo tasks test, answered with the task table's label
words. Neither holds a demo example's wording or a task's input format ("field: value")."""

from __future__ import annotations

import random

from scripts.make_demo_data import BAD, GOOD, NOUNS, PLACES, SYNONYMS, VERBS


def _base(verb: str) -> str:
    return verb[:-1] if verb.endswith("s") else verb


def passage(rng: random.Random) -> str:
    """One passage of the world's text: a statement, then what follows from it (so that predicting
    the rest of a passage from its start needs the start: the model learns to read its input)."""
    s, v, o = rng.choice(NOUNS), rng.choice(VERBS), rng.choice(NOUNS)
    s2, v2, o2 = rng.choice(NOUNS), rng.choice(VERBS), rng.choice(NOUNS)
    place, adj = rng.choice(PLACES), rng.choice(GOOD + BAD)
    other_adj = rng.choice([a for a in GOOD + BAD if a != adj])
    mood = "positive" if adj in GOOD else "negative"
    same = (s, v, o) == (s2, v2, o2)
    words = f"the {s} {v} the {o} {place}".split()
    rng.shuffle(words)
    kinds = [
        lambda: f"the story about the {s} {place} was {adj}. the story was {mood}.",
        lambda: f"the {s} told a story. it was {adj}. was it good or bad? {'good' if adj in GOOD else 'bad'}. {mood}.",
        lambda: f"the {s} {v} the {o}. in other words the {s} {SYNONYMS[v]} the {o}.",
        lambda: f"the {s} {v} the {o}. the {s} {SYNONYMS[v]} the {o}. the two say the same. equivalent. duplicate.",
        lambda: f"the {s} {v} the {o}. the {s2} {v2} the {o2}. "
                + ("the two say the same." if same else "the two are not equivalent. not a duplicate."),
        lambda: f"the {s} {v} the {o} {place}. so the {s} {v} the {o}. that follows. entailment.",
        lambda: f"the {s} {v} the {o} {place}. but the {s} never {_base(v)} the {o}? that is a contradiction.",
        lambda: f"the {s} {v} the {o} {place}. does the {s2} {_base(v2)} the {o2}? we do not know. neutral.",
        lambda: f"the {s} {v} the {o} {place}. what does the {s} {_base(v)}? the {o}.",
        lambda: f"the {s} {v} the {o} {place}. why does the {s2} {_base(v2)} the {o2}? "
                + ("it does." if same else f"it does not. the {s} {v} the {o}."),
        lambda: f"the {s} is {adj} {place}. is the {s} {adj}? true. is the {s} {other_adj}? false.",
        lambda: f"the {s} was {adj}. " + (f"everyone smiled at the {s}." if adj in GOOD else f"nobody smiled at the {s}."),
        lambda: f"everyone smiled at the {s}. the cause: the {s} was {rng.choice(GOOD)}. not {rng.choice(BAD)}.",
        lambda: f"the {s} {v} the {o} {place}. that is an acceptable sentence.",
        lambda: f"{' '.join(words)}. that is not acceptable." if words != f"the {s} {v} the {o} {place}".split()
        else f"the {s} {v} the {o} {place}.",
        lambda: f"the {s} {v} the {o}. the word {v} is used as in the {s2} {v} the {o2}. true.",
        lambda: f"the {s} {v} the {o}. the {s} {v} the {o2}. they share {'all' if o == o2 else 'two'} of three words.",
    ]
    return rng.choice(kinds)()


def document(rng: random.Random) -> str:
    """One or two passages; without commas (the demo's tokenizer has no comma)."""
    return " ".join(passage(rng) for _ in range(rng.randint(1, 2))).replace(",", "")


def _clause(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(NOUNS), rng.choice(VERBS), rng.choice(NOUNS)


def _say(c: tuple[str, str, str]) -> str:
    return f"the {c[0]} {c[1]} the {c[2]}"


def _other(rng: random.Random, c: tuple[str, str, str]) -> tuple[str, str, str]:
    while (d := _clause(rng)) == c:
        pass
    return d


def _sentiment(rng):
    adj, n, place = rng.choice(GOOD + BAD), rng.choice(NOUNS), rng.choice(PLACES)
    story = rng.choice([f"the story about the {n} {place} was {adj}.", f"a {adj} story about the {n}.",
                        f"the {n} told a {adj} story {place}.", f"it was {adj}. a story about the {n} {place}."])
    return f"say if the story is positive or negative. {story}", "positive" if adj in GOOD else "negative"


def _acceptable(rng):
    words = f"{_say(_clause(rng))} {rng.choice(PLACES)}".split()
    fine = rng.random() < 0.5
    if not fine:
        while (shuffled := rng.sample(words, len(words))) == words:
            pass
        words = shuffled
    return f"say if this is an acceptable sentence. {' '.join(words)}.", "acceptable" if fine else "not_acceptable"


def _restated(rng, c):
    same = rng.random() < 0.5
    return same, (f"the {c[0]} {SYNONYMS[c[1]]} the {c[2]}" if same else _say(_other(rng, c)))


def _equivalent(rng):
    c = _clause(rng)
    same, second = _restated(rng, c)
    return f"say if the two are equivalent. {_say(c)}. {second}.", "equivalent" if same else "not_equivalent"


def _duplicate(rng):
    c = _clause(rng)
    same, second = _restated(rng, c)
    return (f"say if one question is a duplicate of the other. why {_say(c)}? why {second}?",
            "duplicate" if same else "not_duplicate")


def _follows(rng, kinds):
    c, place = _clause(rng), rng.choice(PLACES)
    kind = rng.choice(kinds)
    second = {"entailment": _say(c), "neutral": _say(_other(rng, c)), "not_entailment": _say(_other(rng, c)),
              "contradiction": f"the {c[0]} never {c[1].rstrip('s')} the {c[2]}"}[kind]
    return f"say if the second follows from the first. {_say(c)} {place}. {second}.", kind


def _answers(rng):
    c = _clause(rng)
    fits = rng.random() < 0.5
    subject = c[0] if fits else _other(rng, c)[0]
    return (f"say if the sentence answers the question. what does the {c[0]} {c[1].rstrip('s')}? "
            f"the {subject} {c[1]} the {c[2]} {rng.choice(PLACES)}.", "entailment" if fits else "not_entailment")


def _true_false(rng):
    n, adj = rng.choice(NOUNS), rng.choice(GOOD + BAD)
    asked = adj if rng.random() < 0.5 else rng.choice([a for a in GOOD + BAD if a != adj])
    return f"answer true or false. the {n} is {adj} {rng.choice(PLACES)}. is the {n} {asked}?", str(asked == adj).lower()


SKILLS = (_sentiment, _acceptable, _equivalent, _duplicate, _answers, _true_false,
          lambda rng: _follows(rng, ("entailment", "neutral", "contradiction")),
          lambda rng: _follows(rng, ("entailment", "not_entailment")))


def instruction(rng: random.Random) -> tuple[str, str]:
    """(an instruction and its input, the answer): a label word of the task table."""
    return rng.choice(SKILLS)(rng)
