"""Derive the matcher's thresholds from the tuning questions.

The tuning questions are the `tune` rows of tests/data/questions.csv and the shipped example sets
(seed/examples/*.csv). The matcher is measured here without the example model, which learned from
these very questions; benchmarks/examples_cv.py chooses its own levels on sets it did not learn from.
Grid-searches the scoring shape and the decision levels; the frozen half is never read here.
Constraints first (at most 9 out-of-scope questions answered, precision >= 98.5%, paraphrases
answered or offered right >= 60%), then the most questions answered right, then the most
paraphrases. Prints the winner and the `Thresholds(...)` to put in
`handlers/matching/matcher.py`.

    python benchmarks/calibrate.py
"""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from handlers.matching.evaluation import Report, decided, score
from handlers.matching.matcher import Matcher, Thresholds
from handlers.matching.registry import catalog_entries, catalog_from_spec
from seed.catalogue import default_catalogue
from seed.examples import example_questions, load_questions

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
QUESTIONS = DATA / "questions.csv"

# Out-of-scope questions the tuning questions let through (MAX_OOS to explore). 9 of the 1,974 is
# what the rules reach: role questions about other organisations whose qualifier the catalogue
# happens to know ("the scrum master for the microsoft teams product group", "the program manager for
# the F-35 program"), a story, a tool's maker and a workplace programme. The cap stayed at 9 as the
# out-of-scope questions doubled, because the target is none; on the 3,237 questions before the last
# two sets, a cap of 5 answered 91.9% of plain in-scope questions right instead of 97.0%.
MAX_OUT_OF_SCOPE_ANSWERED = int(os.environ.get("MAX_OOS", "9"))
# Precision when answering, at least (MIN_PRECISION to explore). The target is 98%. The floor was
# set one standard error above it when ~900 tuning questions were answered (0.5 points); with ~1,700
# now that is 0.35 points, and the floor is kept: unseen sets have come in lower than tuning ones.
MIN_PRECISION = float(os.environ.get("MIN_PRECISION", "0.985"))
# Paraphrases answered or offered right, at least (MIN_PARAPHRASES to explore). The target is 70%,
# which the strictest sets (extra4, extra5: no word shared with a responsibility, its keywords or
# its aliases) keep out of reach at any threshold; below this floor the calibration would trade the
# choices offered for them for a point of plain top-1.
MIN_PARAPHRASE_RATE = float(os.environ.get("MIN_PARAPHRASES", "0.6"))
SCORING_GRID = {
    "phrase_power": (0.5, 1.0, 1.5),
    "question_power": (0.35, 0.5, 0.65),
    "unknown_weight": (0.5, 0.75, 1.0),
    "partial_phrase": (0.5, 0.67),
}
DECISION_GRID = {
    "answer": tuple(x / 100 for x in range(35, 80, 3)),
    "margin": (0.0, 0.03, 0.06, 0.1, 0.15),
    "clarify": (0.15, 0.2, 0.25, 0.3),
}


def objective(report: Report) -> tuple[int, float, float]:
    feasible = (
        report.out_of_scope_answered <= MAX_OUT_OF_SCOPE_ANSWERED
        and report.precision >= MIN_PRECISION
        and report.paraphrase_rate >= MIN_PARAPHRASE_RATE
    )
    return (int(feasible), report.top1, report.paraphrase_rate)


def main() -> None:
    questions = load_questions(QUESTIONS, split="tune") + example_questions()
    entries = catalog_entries(catalog_from_spec(default_catalogue()))
    best: tuple[tuple[int, float, float], Thresholds, Report] | None = None
    names = list(SCORING_GRID)
    for values in itertools.product(*SCORING_GRID.values()):
        chosen: dict[str, Any] = dict(zip(names, values, strict=True))
        shape = replace(Thresholds(), **chosen)
        matcher = Matcher(entries, shape)
        assessed = {q.text: matcher.assess(q.text) for q in questions}
        for answer, margin, clarify in itertools.product(*DECISION_GRID.values()):
            if clarify >= answer:
                continue
            limits = replace(shape, answer=answer, margin=margin, clarify=clarify)
            report = score(questions, decided(matcher, assessed, limits))
            key = objective(report)
            if best is None or key > best[0]:
                best = (key, limits, report)
    assert best is not None
    _, limits, report = best
    print("tuning split:", len(questions), "questions")
    print("\n".join(report.lines()))
    print(limits)


if __name__ == "__main__":
    main()
