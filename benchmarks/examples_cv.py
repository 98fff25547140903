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
from dataclasses import replace
from pathlib import Path

from handlers.matching.evaluation import Report, decided, score
from handlers.matching.examples import SMOOTHING, ExampleModel
from handlers.matching.matcher import Matcher, Thresholds
from handlers.matching.registry import catalog_entries, catalog_from_spec
from seed.catalogue import default_catalogue
from seed.examples import Question, example_sets, load_questions

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "data" / "questions.csv"
SETTLE = (0.7, 0.8, 0.9, 0.95, 0.99)
SETTLE_FLOOR = (0.2, 0.3, 0.4)
SMOOTHINGS = (0.1, SMOOTHING, 1.0)


def _line(report: Report) -> str:
    return (
        f"plain {report.top1_without_paraphrases:6.1%}  "
        f"precision {report.precision:6.2%}  "
        f"paraphrases {report.paraphrase_rate:6.1%}  "
        f"out-of-scope answered {report.out_of_scope_answered}/{report.out_of_scope}"
    )


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

    baseline = sum(
        (score(qs, decided(plain, assessed, plain.thresholds)) for qs in folds.values()), Report()
    )
    print(f"without the example model         {_line(baseline)}")

    for smoothing in SMOOTHINGS:
        matchers = {
            name: Matcher(
                entries, examples=ExampleModel(_training(shipped, name, folds[name]), smoothing)
            )
            for name in folds
        }
        for settle, floor in itertools.product(SETTLE, SETTLE_FLOOR):
            limits = replace(Thresholds(), settle=settle, settle_floor=floor)
            totals = sum(
                (
                    score(qs, decided(matchers[name], assessed, limits))
                    for name, qs in folds.items()
                ),
                Report(),
            )
            chosen = (
                " <- chosen"
                if (smoothing, settle, floor)
                == (SMOOTHING, Thresholds().settle, Thresholds().settle_floor)
                else ""
            )
            print(
                f"smoothing {smoothing:<4} settle {settle:<4} floor {floor:<4} {_line(totals)}{chosen}"
            )


if __name__ == "__main__":
    main()
