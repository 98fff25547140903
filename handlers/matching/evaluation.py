"""Measuring the matcher on a labelled question set (seed/examples.py says the format).

Shared by the accuracy tests, `benchmarks/matching.py` and `benchmarks/calibrate.py`, so all three
count the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields

from handlers.matching.matcher import Assessment, Candidate, Match, Matcher, Outcome, Thresholds
from seed.examples import Question

PARAPHRASE = "paraphrase"
OUT_OF_SCOPE = "out_of_scope"


@dataclass
class Report:
    in_scope: int = 0
    answered: int = 0
    right: int = 0
    clarified: int = 0
    paraphrases: int = 0
    paraphrases_ok: int = 0
    plain_in_scope: int = 0
    plain_right: int = 0
    out_of_scope: int = 0
    out_of_scope_answered: int = 0
    misses: list[tuple[str, Question, Match]] = field(default_factory=list)

    def __add__(self, other: Report) -> Report:
        """Two sets' counts together, as if they were one set."""
        counts = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name != "misses"
        }
        return Report(**counts, misses=[*self.misses, *other.misses])

    @property
    def top1(self) -> float:
        return self.right / max(self.in_scope, 1)

    @property
    def top1_without_paraphrases(self) -> float:
        return self.plain_right / max(self.plain_in_scope, 1)

    @property
    def precision(self) -> float:
        return self.right / max(self.answered, 1)

    @property
    def clarify_rate(self) -> float:
        return self.clarified / max(self.in_scope, 1)

    @property
    def paraphrase_rate(self) -> float:
        return self.paraphrases_ok / max(self.paraphrases, 1)

    def lines(self) -> list[str]:
        return [
            f"in-scope questions           {self.in_scope}",
            f"top-1 right (all in-scope)   {self.top1:.1%}",
            f"top-1 right (w/o paraphrase) {self.top1_without_paraphrases:.1%}",
            f"precision when answering     {self.precision:.1%}",
            f"clarify rate                 {self.clarify_rate:.1%}",
            f"paraphrases right/clarified  {self.paraphrase_rate:.1%} "
            f"({self.paraphrases_ok}/{self.paraphrases})",
            f"out-of-scope answered        {self.out_of_scope_answered}/{self.out_of_scope}",
        ]


def _offers(candidates: Iterable[Candidate], expected: frozenset[str]) -> bool:
    return any(c.target.role in expected for c in candidates)


def score(questions: Sequence[Question], match: Callable[[str], Match]) -> Report:
    report = Report()
    for question in questions:
        result = match(question.text)
        answered = result.outcome == Outcome.ANSWER
        if not question.in_scope:
            report.out_of_scope += 1
            if answered:
                report.out_of_scope_answered += 1
                report.misses.append(("answered out-of-scope", question, result))
            continue
        report.in_scope += 1
        best = result.best
        right = answered and best is not None and best.target.role in question.expected
        report.answered += answered
        report.right += right
        report.clarified += result.outcome == Outcome.CLARIFY
        if question.category == PARAPHRASE:
            report.paraphrases += 1
            offered = result.outcome == Outcome.CLARIFY and _offers(
                result.candidates, question.expected
            )
            report.paraphrases_ok += right or offered
        else:
            report.plain_in_scope += 1
            report.plain_right += right
        if not right:
            report.misses.append(("wrong" if answered else result.outcome.value, question, result))
    return report


def evaluate(matcher: Matcher, questions: Sequence[Question]) -> Report:
    return score(questions, matcher.match)


def decided(
    matcher: Matcher, assessed: dict[str, Assessment], limits: Thresholds
) -> Callable[[str], Match]:
    """Questions assessed once, decided at other levels: for sweeping thresholds quickly."""

    def decide(text: str) -> Match:
        return matcher.verdict(assessed[text], limits)

    return decide
