"""Resolving a role named in a command ("scrum mastr", "PO", "backup tester") onto the catalogue.

Unlike questions, a command names a role on purpose, so this compares whole names with rapidfuzz:
the plain ratio catches typos ("scrum mastr"), the token-set ratio a name given in part or with
extra words ("the tester"). An ambiguous name ("data", "manager") yields choices, never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from handlers.matching.text import fold
from store.names import key
from store.records import RoleRecord

RESOLVED = 86.0
CLOSE_CALL = 6.0
CONSIDER = 60.0


@dataclass(frozen=True)
class RoleResolution:
    role: RoleRecord | None
    choices: tuple[RoleRecord, ...] = ()


class RoleResolver:
    def __init__(self, roles: Sequence[RoleRecord]) -> None:
        self._roles = tuple(roles)
        self._names: list[tuple[str, RoleRecord]] = []
        self._exact: dict[str, RoleRecord] = {}
        for role in roles:
            for name in (role.name, *role.aliases):
                normalised = key(fold(name))
                self._names.append((normalised, role))
                self._exact.setdefault(normalised, role)

    def resolve(self, text: str) -> RoleResolution:
        wanted = key(fold(text))
        if not wanted:
            return RoleResolution(None)
        exact = self._exact.get(wanted)
        if exact is not None:
            return RoleResolution(exact)
        best: dict[int, tuple[float, RoleRecord]] = {}
        for name, role in self._names:
            score = max(fuzz.ratio(wanted, name), fuzz.token_set_ratio(wanted, name))
            if score > best.get(role.id, (0.0, role))[0]:
                best[role.id] = (score, role)
        ranked = sorted(best.values(), key=lambda item: -item[0])
        if not ranked or ranked[0][0] < CONSIDER:
            return RoleResolution(None)
        top_score, top = ranked[0]
        second = ranked[1][0] if len(ranked) > 1 else 0.0
        if top_score >= RESOLVED and top_score - second >= CLOSE_CALL:
            return RoleResolution(top)
        close = tuple(role for score, role in ranked[:3] if score >= max(CONSIDER, top_score - 15))
        if len(close) == 1 and top_score >= RESOLVED:
            return RoleResolution(top)
        return RoleResolution(None, close)
