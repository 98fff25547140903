"""Derive the meaning stage's levels from the tuning catalogues: `python benchmarks/calibrate_meaning.py`.

The tuning catalogues (benchmarks/catalogues.py's TUNING) are each made a workspace's whole
catalogue, as `--replace` does, and the production registry builds their matchers; the default
catalogue's tuning split (tests/data/questions.csv) is scored beside them so the default does not
pay for what the team catalogues gain. The blind catalogues are never read here.

Every question is assessed once, words and meaning together; the grid then only re-decides.
Constraints first (no out-of-scope question of the tuning catalogues answered, no more on the
default's split than the words alone answer, precision at least 98.5% on each), then the most
plain questions right, then the most paraphrases answered or offered right. Prints the winner and
the levels to put in `Thresholds` (handlers/matching/matcher.py). The levels for the default roles
a team kept (`meaning_*_default`) are not swept: the frozen sets chose them. Nor is
`meaning_offer`, for messages that are not who-questions: out-of-scope chatter offered choices
costs nothing here but annoys people ("tell me a joke"), so it stays where it offers none.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.catalogues import TUNING, team_catalogue, workspace_matcher
from handlers.matching.evaluation import Report, decided, score
from handlers.matching.matcher import Assessment, Matcher, Thresholds
from seed.examples import Question, load_questions
from store import migrate
from store.db import Database

DEFAULT_TUNING = Path(__file__).resolve().parent.parent / "tests" / "data" / "questions.csv"
MIN_PRECISION = 0.985
GRID: dict[str, tuple[float, ...]] = {
    "meaning_answer": (0.4, 0.45, 0.5),
    "meaning_alone": (0.55, 0.6),
    "meaning_margin": (0.04, 0.06),
    "meaning_margin_among": (0.1, 0.15),
    "meaning_spread": (0.16, 0.2),
    "agreed_words": (0.2, 0.3, 0.4, 0.5),
    "agreed_meaning": (0.25, 0.3, 0.35, 0.4),
}


@dataclass
class Assessed:
    name: str
    matcher: Matcher
    questions: list[Question]
    assessed: dict[str, Assessment]

    def report(self, limits: Thresholds) -> Report:
        return score(self.questions, decided(self.matcher, self.assessed, limits))


async def assessed_sets() -> list[Assessed]:
    sets: list[tuple[str, Any, list[Question]]] = [
        ("default, tuning split", None, load_questions(DEFAULT_TUNING, split="tune"))
    ]
    for name in TUNING:
        team = team_catalogue(name)
        sets.append((name, team.spec, team.questions))
    out: list[Assessed] = []
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite+aiosqlite:///{folder}/calibrate.db")
        await migrate.upgrade(db)
        for name, spec, questions in sets:
            matcher, _ = await workspace_matcher(spec, db, name)
            assessed = {
                q.text: replace(matcher.assess(q.text), meaning=matcher.meaning(q.text))
                for q in questions
            }
            out.append(Assessed(name, matcher, questions, assessed))
        await db.dispose()
    return out


def objective(reports: Sequence[Report], default_ceiling: int) -> tuple[int, int, int]:
    default, *teams = reports
    pooled = sum(teams, Report())
    feasible = (
        pooled.out_of_scope_answered == 0
        and default.out_of_scope_answered <= default_ceiling
        and pooled.precision >= MIN_PRECISION
        and default.precision >= MIN_PRECISION
    )
    return (
        int(feasible),
        pooled.plain_right + default.plain_right,
        pooled.paraphrases_ok + default.paraphrases_ok,
    )


def main() -> None:
    sets = asyncio.run(assessed_sets())
    base = Thresholds()
    words_only = replace(base, meaning_offer=2.0, meaning_offer_asking=2.0)
    ceiling = sets[0].report(words_only).out_of_scope_answered
    names = list(GRID)
    best: tuple[tuple[int, int, int], Thresholds, list[Report]] | None = None
    for values in itertools.product(*GRID.values()):
        chosen: dict[str, Any] = dict(zip(names, values, strict=True))
        limits = replace(base, **chosen)
        if limits.meaning_alone < limits.meaning_answer:
            continue
        reports = [s.report(limits) for s in sets]
        key = objective(reports, ceiling)
        if best is None or key > best[0]:
            best = (key, limits, reports)
    assert best is not None
    _, limits, reports = best
    for s, report in zip(sets, reports, strict=True):
        print(
            f"{s.name}: plain {report.top1_without_paraphrases:.1%}, precision "
            f"{report.precision:.1%}, paraphrases {report.paraphrase_rate:.1%}, out of scope "
            f"answered {report.out_of_scope_answered}/{report.out_of_scope}"
        )
    print({name: getattr(limits, name) for name in names})


if __name__ == "__main__":
    main()
