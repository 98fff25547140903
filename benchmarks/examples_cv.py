"""What the example model adds, on sets it did not learn from: `python benchmarks/examples_cv.py`.

Leave one set out: for each shipped example set (seed/examples/*.csv) and the tuning rows of
tests/data/questions.csv, the model learns from the other shipped sets only (less any question the
left-out set asks word for word) and the matcher is scored on the one left out. Prints the totals
without the model (the baseline, in the same run) and for each smoothing and pair of settle levels,
so `SMOOTHING`, `Thresholds.settle` and `settle_floor` are chosen on questions the model had not
seen. The frozen sets are never read here. About 10 s.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from handlers.matching.evaluation import Report, catalog_from_spec, score
from handlers.matching.examples import SMOOTHING, ExampleModel
from handlers.matching.matcher import Assessment, Match, Matcher, Thresholds
from handlers.matching.registry import catalog_entries
from seed.catalogue import default_catalogue
from seed.examples import Question, example_sets, load_questions

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "data" / "questions.csv"
SETTLE = (0.7, 0.8, 0.9, 0.95, 0.99)
SETTLE_FLOOR = (0.2, 0.3, 0.4)
SMOOTHINGS = (0.1, SMOOTHING, 1.0)


@dataclass
class Totals:
    plain: int = 0
    plain_right: int = 0
    answered: int = 0
    right: int = 0
    paraphrases: int = 0
    paraphrases_ok: int = 0
    out_of_scope: int = 0
    out_of_scope_answered: int = 0

    def add(self, report: Report) -> None:
        self.plain += report.plain_in_scope
        self.plain_right += report.plain_right
        self.answered += report.answered
        self.right += report.right
        self.paraphrases += report.paraphrases
        self.paraphrases_ok += report.paraphrases_ok
        self.out_of_scope += report.out_of_scope
        self.out_of_scope_answered += report.out_of_scope_answered

    def line(self) -> str:
        return (
            f"plain {self.plain_right / self.plain:6.1%}  "
            f"precision {self.right / self.answered:6.2%}  "
            f"paraphrases {self.paraphrases_ok / self.paraphrases:6.1%}  "
            f"out-of-scope answered {self.out_of_scope_answered}/{self.out_of_scope}"
        )


def _verdicts(
    matcher: Matcher, assessed: dict[str, Assessment], limits: Thresholds
) -> Callable[[str], Match]:
    def verdict(text: str) -> Match:
        return matcher.verdict(assessed[text], limits)

    return verdict


def _training(
    shipped: dict[str, list[Question]], left_out: str, held_out: list[Question]
) -> list[Question]:
    """The other sets' questions, less any the held-out set also asks word for word."""
    asked = {q.text.strip().casefold() for q in held_out}
    return [
        q
        for name, questions in shipped.items()
        if name != left_out
        for q in questions
        if q.text.strip().casefold() not in asked
    ]


def main() -> None:
    entries = catalog_entries(catalog_from_spec(default_catalogue()))
    shipped = {path.name: load_questions(path) for path in example_sets()}
    folds: dict[str, list[Question]] = {
        "questions.csv (tune rows)": load_questions(QUESTIONS, split="tune"),
        **shipped,
    }
    plain = Matcher(entries)
    assessed = {q.text: plain.assess(q.text) for qs in folds.values() for q in qs}
    print(f"{len(folds)} sets, {len(assessed)} questions, each scored by a model that never saw it")

    baseline = Totals()
    for questions in folds.values():
        baseline.add(score(questions, _verdicts(plain, assessed, plain.thresholds)))
    print(f"without the example model         {baseline.line()}")

    for smoothing in SMOOTHINGS:
        matchers = {
            name: Matcher(
                entries, examples=ExampleModel(_training(shipped, name, folds[name]), smoothing)
            )
            for name in folds
        }
        for settle, floor in itertools.product(SETTLE, SETTLE_FLOOR):
            limits = replace(Thresholds(), settle=settle, settle_floor=floor)
            totals = Totals()
            for name, questions in folds.items():
                totals.add(score(questions, _verdicts(matchers[name], assessed, limits)))
            chosen = (
                " <- chosen"
                if (smoothing, settle, floor)
                == (SMOOTHING, Thresholds().settle, Thresholds().settle_floor)
                else ""
            )
            print(
                f"smoothing {smoothing:<4} settle {settle:<4} floor {floor:<4} {totals.line()}{chosen}"
            )


if __name__ == "__main__":
    main()
