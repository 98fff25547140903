"""Which role people meant, learned from labelled example questions.

The lexical score knows what each responsibility says, not how people ask for it: "who's on devops
for the chatbot revamp" leaves the DevOps Engineer and the Scrum Master (sprint work) close. The
shipped example questions (seed/examples/) say which role people asking that way meant. A
multinomial naive Bayes model over their stems and stem pairs gives a probability per role, and one
more label for questions no role should answer; the matcher uses it only to settle a clarification
between roles it already offers (see `Matcher.verdict`). Training counts words once per process,
in about 0.3 s; a guess costs tens of microseconds. The examples are read as written; a question is
guessed from its stems after typo correction, which is how most examples are spelled anyway.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from handlers.matching.text import content_words, stem
from seed.examples import Question, example_questions

# The label of questions no role should answer ("tell me a joke", "who do I send my sick note to").
NO_ROLE = ""
# Additive smoothing of word counts; chosen by leave-one-set-out runs of
# benchmarks/examples_cv.py (0.1 and 1.0 did no better).
SMOOTHING = 0.3


@dataclass(frozen=True)
class RoleGuess:
    role: str  # case-folded role name, or NO_ROLE
    probability: float


def features(stems: Sequence[str]) -> list[str]:
    """The stems and each adjacent pair of them ("model deploy" is not "deploy model")."""
    return [*stems, *(f"{a} {b}" for a, b in pairwise(stems))]


def question_stems(text: str) -> list[str]:
    return list(dict.fromkeys(stem(w) for w in content_words(text)))


class ExampleModel:
    def __init__(self, examples: Iterable[Question], smoothing: float = SMOOTHING) -> None:
        counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        priors: dict[str, float] = defaultdict(float)
        for example in examples:
            labels = sorted(r.casefold() for r in example.expected) or [NO_ROLE]
            # A question two roles share counts half for each.
            share = 1 / len(labels)
            found = features(question_stems(example.text))
            for label in labels:
                priors[label] += share
                for feature in found:
                    counts[label][feature] += share
        self._vocabulary = frozenset(f for c in counts.values() for f in c)
        total = sum(priors.values())
        denominator = {
            label: sum(c.values()) + smoothing * len(self._vocabulary)
            for label, c in counts.items()
        }
        self._log_prior = {label: math.log(n / total) for label, n in priors.items()}
        self._log_likelihood = {
            label: {f: math.log((n + smoothing) / denominator[label]) for f, n in c.items()}
            for label, c in counts.items()
        }
        self._log_unseen = {
            label: math.log(smoothing / denominator[label]) for label in denominator
        }

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(self._log_prior)

    def guess(self, stems: Sequence[str]) -> RoleGuess | None:
        """The most probable label for a question's stems; None when no example used any of them."""
        found = [f for f in features(stems) if f in self._vocabulary]
        if not found:
            return None
        scores = {
            label: prior
            + sum(self._log_likelihood[label].get(f, self._log_unseen[label]) for f in found)
            for label, prior in self._log_prior.items()
        }
        best = max(scores, key=scores.__getitem__)
        top = scores[best]
        probability = 1 / sum(math.exp(s - top) for s in scores.values())
        return RoleGuess(best, probability)


@lru_cache(maxsize=1)
def shipped_model() -> ExampleModel:
    """The model of every shipped example set, built once per process."""
    return ExampleModel(example_questions())
