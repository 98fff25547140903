"""Kept sentence embeddings of catalogue phrases (see handlers/matching/semantic.py)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.expression import Executable

from store.db import Database
from store.models import PhraseVector

# Enough hashes per query to stay far below every backend's limit on bound parameters.
CHUNK = 500


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def load_vectors(
    db: Database, model: str, texts: Iterable[str]
) -> dict[str, npt.NDArray[np.float16]]:
    """The kept vectors of those texts that have one."""
    by_hash = {text_hash(t): t for t in texts}
    found: dict[str, npt.NDArray[np.float16]] = {}
    hashes = list(by_hash)
    async with db.reading() as session:
        for start in range(0, len(hashes), CHUNK):
            rows = await session.execute(
                select(PhraseVector.text_hash, PhraseVector.vector).where(
                    PhraseVector.model == model,
                    PhraseVector.text_hash.in_(hashes[start : start + CHUNK]),
                )
            )
            for digest, vector in rows:
                found[by_hash[digest]] = np.frombuffer(vector, dtype="<f2")
    return found


@functools.cache
def _keep(dialect: str) -> Executable:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(PhraseVector).on_conflict_do_nothing(index_elements=["model", "text_hash"])


async def save_vectors(
    db: Database, model: str, vectors: Mapping[str, npt.NDArray[np.float16]]
) -> None:
    """Keeps new vectors; another replica that embedded the same text first wins, harmlessly."""
    if not vectors:
        return
    now = datetime.now(UTC)
    rows = [
        {
            "model": model,
            "text_hash": text_hash(text),
            "vector": np.asarray(vector, dtype="<f2").tobytes(),
            "created_at": now,
        }
        for text, vector in vectors.items()
    ]
    async with db.transaction() as session:
        for start in range(0, len(rows), CHUNK):
            await session.execute(_keep(db.dialect), rows[start : start + CHUNK])
