"""Canonical keys for names people type, so "Scrum-Master", "scrum master" and "SCRUM  MASTER" are one."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+")


def key(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    return " ".join(_WORD.findall(folded))
