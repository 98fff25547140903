"""Learns the query adapter: `python -m benchmarks.train_query_adapter [--folds 4]`.

The adapter is one 384 x 384 matrix applied to a question's MiniLM vector before it is compared with
the catalogue's phrases (handlers/matching/semantic.py, `QueryAdapter`). It is learned on the
tuning catalogues' in-scope questions only (benchmarks/catalogues.py `TUNING`; the blind ones are
never opened): each question should put the phrases of its expected role above every other phrase
of its catalogue (a softmax over the catalogue's phrases at temperature `TEMPERATURE`), with the map
held near the identity so that what MiniLM already ranks well stays ranked.

`--folds K` first learns it K times, each time leaving a K-th of the catalogues out, and prints how
often the right role is the closest in meaning on the catalogues left out, with and without it.
The result is written to handlers/matching/minilm/query_adapter.npy (float16) unless `--dry-run`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.catalogues import TUNING, team_catalogue, workspace_matcher
from handlers.matching.evaluation import PARAPHRASE
from handlers.matching.semantic import (
    ADAPTER_FILE,
    DIMENSIONS,
    PhraseVectors,
    QueryAdapter,
    SemanticIndex,
    Vectors,
    shipped_vectors,
)
from store import migrate
from store.db import Database

OUTPUT = Path(__file__).resolve().parent.parent / "handlers" / "matching" / "minilm" / ADAPTER_FILE
# Chosen leaving catalogues out (4 folds of the 28 tuning catalogues): temperature 0.03-0.05,
# 3-20 passes and pulls of 1-10 towards the identity all ranked within half a point of these.
TEMPERATURE = 0.05
PASSES = 10
LEARNING_RATE = 0.001
IDENTITY_PULL = 0.01
BATCH = 64
SEED = 0


@dataclass(frozen=True)
class Catalogue:
    index: SemanticIndex  # ranks as the matcher does
    phrases: Vectors  # a row per phrase
    roles: npt.NDArray[np.intp]  # each phrase's role, by position
    questions: list[tuple[Vectors, frozenset[int], bool]]  # vector, expected roles, paraphrase


async def load(names: list[str], vectors: PhraseVectors) -> list[Catalogue]:
    """Each catalogue made a fresh workspace's whole catalogue, as benchmarks/catalogues.py does,
    and its questions encoded with the model's own vectors."""
    out: list[Catalogue] = []
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite+aiosqlite:///{folder}/adapter.db")
        await migrate.upgrade(db)
        for name in names:
            team = team_catalogue(name)
            matcher, _ = await workspace_matcher(team.spec, db, name)
            index = matcher.semantic
            if index is None:
                raise SystemExit("the embedding model is not available")
            phrases, roles = index.by_role()
            name_of = {t.role_id: t.role for t in matcher.targets}
            role_names = [name_of.get(r, "") for r in index.role_ids]
            questions = [
                (
                    vectors.question(q.text, adapted=False),
                    frozenset(i for i, n in enumerate(role_names) if n in q.expected),
                    q.category == PARAPHRASE,
                )
                for q in team.questions
                if q.in_scope
            ]
            out.append(Catalogue(index, phrases, roles, [q for q in questions if q[1]]))
        await db.dispose()
    return out


def learn(catalogues: list[Catalogue]) -> Vectors:
    """Adam on the softmax loss, by hand: numpy is all the run time has."""
    identity = np.eye(DIMENSIONS)
    matrix = identity.copy()
    first, second = np.zeros_like(matrix), np.zeros_like(matrix)
    items = [
        (c, vector.astype(np.float64), np.isin(c.roles, list(expected)))
        for c in catalogues
        for vector, expected, _ in c.questions
    ]
    rng = np.random.default_rng(SEED)
    step = 0
    for _ in range(PASSES):
        order = rng.permutation(len(items))
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            gradient = np.zeros_like(matrix)
            for i in batch:
                catalogue, question, expected = items[i]
                gradient += _gradient(matrix, catalogue.phrases, question, expected)
            gradient = gradient / len(batch) + IDENTITY_PULL * (matrix - identity)
            step += 1
            first = 0.9 * first + 0.1 * gradient
            second = 0.999 * second + 0.001 * gradient**2
            unbiased = first / (1 - 0.9**step), second / (1 - 0.999**step)
            matrix -= LEARNING_RATE * unbiased[0] / (np.sqrt(unbiased[1]) + 1e-8)
    return matrix.astype(np.float32)


def _gradient(
    matrix: npt.NDArray[np.float64],
    phrases: Vectors,
    question: npt.NDArray[np.float64],
    expected: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float64]:
    """d/d(matrix) of -log(the expected role's share of the softmax over the phrases)."""
    moved = matrix @ question
    length = float(np.linalg.norm(moved))
    unit = moved / length
    logits = phrases.astype(np.float64) @ unit / TEMPERATURE
    shares = np.exp(logits - logits.max())
    shares /= shares.sum()
    wanted = shares * expected
    wanted /= wanted.sum()
    d_unit = phrases.T.astype(np.float64) @ ((shares - wanted) / TEMPERATURE)
    d_moved = (d_unit - unit * (unit @ d_unit)) / length
    return np.outer(d_moved, question)


def closest_right(catalogues: list[Catalogue], matrix: Vectors | None) -> tuple[float, float]:
    """How often the right role is the closest in meaning, as the matcher's index ranks it:
    plain questions, paraphrases."""
    right = {False: [0, 0], True: [0, 0]}
    for c in catalogues:
        position = {role_id: i for i, role_id in enumerate(c.index.role_ids)}
        for vector, expected, paraphrase in c.questions:
            moved = vector if matrix is None else QueryAdapter(matrix).apply(vector)
            closest = c.index.closeness(moved, limit=1)
            right[paraphrase][0] += bool(closest) and position[closest[0].role_id] in expected
            right[paraphrase][1] += 1
    (plain, plain_total), (paraphrases, paraphrase_total) = right[False], right[True]
    return plain / max(plain_total, 1), paraphrases / max(paraphrase_total, 1)


def cross_validate(catalogues: list[Catalogue], folds: int) -> None:
    without, adapted = [], []
    for fold in range(folds):
        left_out = catalogues[fold::folds]
        kept = [c for i, c in enumerate(catalogues) if i % folds != fold]
        without.append(closest_right(left_out, None))
        adapted.append(closest_right(left_out, learn(kept)))
        print(f"fold {fold + 1}: without {_pct(without[-1])}, adapted {_pct(adapted[-1])}")
    print(
        f"catalogues left out, mean of {folds} folds (plain / paraphrases): "
        f"without {_pct(np.mean(without, axis=0))}, adapted {_pct(np.mean(adapted, axis=0))}"
    )


def _pct(pair: tuple[float, float] | npt.NDArray[np.float64]) -> str:
    return f"{pair[0]:.1%} / {pair[1]:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=0, help="cross-validate first (0: don't)")
    parser.add_argument("--dry-run", action="store_true", help="do not write the adapter")
    args = parser.parse_args()
    catalogues = asyncio.run(load(list(TUNING), shipped_vectors()))
    if args.folds:
        cross_validate(catalogues, args.folds)
    matrix = learn(catalogues)
    in_sample = closest_right(catalogues, None), closest_right(catalogues, matrix)
    print(
        f"learned on {len(catalogues)} tuning catalogues; closest right on them (in sample): "
        f"without {_pct(in_sample[0])}, adapted {_pct(in_sample[1])}"
    )
    if not args.dry_run:
        np.save(OUTPUT, matrix.astype(np.float16), allow_pickle=False)
        print(f"written {OUTPUT}")


if __name__ == "__main__":
    main()
