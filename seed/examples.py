"""Labelled questions: the CSV format of every question set, and the example sets we ship.

A question set is a CSV file with the columns question, expected_role (role names joined by "|",
empty when no role should answer), category (direct, typo, paraphrase, out_of_scope…) and split.
The sets in `seed/examples/` were written from the roles document and ship with the package: the
matcher learns from them which role people mean when its lexical score leaves roles close (see
handlers/matching/examples.py), and `benchmarks/calibrate.py` tunes on them. The frozen test sets
stay in tests/data and are never shipped.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable


@dataclass(frozen=True)
class Question:
    text: str
    expected: frozenset[str]
    category: str
    split: str

    @property
    def in_scope(self) -> bool:
        return bool(self.expected)


def load_questions(path: Traversable, split: str | None = None) -> list[Question]:
    """The questions of one set, or only those of one `split`."""
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    questions = [
        Question(
            text=row["question"],
            expected=frozenset(r for r in row["expected_role"].split("|") if r),
            category=row["category"],
            split=row["split"],
        )
        for row in rows
    ]
    return [q for q in questions if split is None or q.split == split]


def example_sets() -> list[Traversable]:
    """The shipped example sets, in a stable order."""
    folder = resources.files("seed").joinpath("examples")
    return sorted((p for p in folder.iterdir() if p.name.endswith(".csv")), key=lambda p: p.name)


def example_questions() -> list[Question]:
    return [q for path in example_sets() for q in load_questions(path)]
