"""One matcher per workspace, built from the store and rebuilt when the catalogue version moves."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from handlers.matching.examples import ExampleModel, shipped_model
from handlers.matching.matcher import CatalogEntry, Matcher, Target, Thresholds
from handlers.matching.roles import RoleResolver
from handlers.matching.semantic import PhraseVectors, shipped_vectors
from handlers.matching.text import phrase_stems
from seed.catalogue import CatalogueSpec, default_catalogue
from store import catalog as catalog_queries
from store import vectors as vector_queries
from store.db import Database
from store.names import key
from store.records import Catalog, ResponsibilityRecord, RoleRecord

# A replica's budgets (WHOOWNS_WORKSPACES_KEPT, WHOOWNS_MATCHER_PHRASES): a matcher of the default
# catalogue and a few responsibilities of its own scores about 930 phrases and takes about 0.5 MB
# of RSS once allocator overhead is counted (phrase vectors are kept once per process, not per
# matcher); an index kept beside a shared matcher a few kB. 300,000 phrases keep about 320
# distinct matchers: some 170 MB over a replica's 300 MB base, within the 500 MB goal
# (benchmarks/many_workspaces.py measures it).
WORKSPACES_KEPT = 2_000
PHRASE_BUDGET = 300_000


def catalog_entries(catalog: Catalog) -> list[CatalogEntry]:
    entries: list[CatalogEntry] = []
    kept = default_role_ids(catalog)
    claimed = _claimed_by_team(catalog, kept)
    for role in catalog.roles:
        entries.append(CatalogEntry(Target(role.id, role.name), (role.name, *role.aliases)))
        for r in role.responsibilities:
            keywords = r.keywords
            if role.id in kept:
                keywords = tuple(k for k in keywords if not _claimed(k, claimed))
            entries.append(
                CatalogEntry(
                    Target(role.id, role.name, r.id, r.text),
                    (r.text, *keywords, *r.learned),
                    () if role.id in kept else list_items(r.text),
                )
            )
    return entries


def _stems(phrase: str) -> frozenset[str]:
    return frozenset(phrase_stems(phrase))


def _claimed_by_team(catalog: Catalog, kept: frozenset[int]) -> list[frozenset[str]]:
    """The words of each name and responsibility of the roles a team added or reshaped."""
    return [
        stems
        for role in catalog.roles
        if role.id not in kept
        for phrase in (role.name, *role.aliases, *(r.text for r in role.responsibilities))
        if (stems := _stems(phrase))
    ]


def _claimed(keyword: str, claimed: list[frozenset[str]]) -> bool:
    """Whether a team's own role says what a default keyword says ("feature store" where the team
    added a Feature Store Engineer): the default's hand-written keywords help the default roles
    only, and must not win the team's questions."""
    stems = _stems(keyword)
    return bool(stems) and any(stems <= phrase for phrase in claimed)


# Where a responsibility written as a list breaks into its items: "IT budget, headcount and
# hiring for the team"; "Chair the weekly Change Advisory Board (CAB)".
_ITEM_BREAK = re.compile(r"\s*(?:[,;]|\band\b|&|\s/\s)\s*", re.IGNORECASE)
# What brackets hold is one item, however it is listed: "Image metadata schema (line, SKU,
# camera ID)" lists what the schema records, not four things the role owns on their own.
_BRACKETED = re.compile(r"\s*\(([^()]*)\)\s*")


# A word written with a hyphen that people also write as one: "Wi-Fi" is "wifi", "on-prem" "onprem".
_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")


def list_items(text: str) -> tuple[str, ...]:
    """The parts of a responsibility the words can match whole: the items of one that lists
    several things, and the text with its hyphenated words written as one."""
    joined = _HYPHEN.sub("", text)
    bracketed = [b.strip() for b in _BRACKETED.findall(joined)]
    outside = _BRACKETED.sub(" ; ", joined)
    items = tuple(i for i in (*(p.strip() for p in _ITEM_BREAK.split(outside)), *bracketed) if i)
    return (*(items if len(items) > 1 else ()), *((joined,) if joined != text else ()))


def catalog_from_spec(spec: CatalogueSpec, workspace_id: int = 0) -> Catalog:
    """A store-shaped catalogue with made-up ids, for measuring without a database."""
    roles: list[RoleRecord] = []
    next_id = 1
    for role_number, role in enumerate(spec.roles, start=1):
        responsibilities = []
        for r in role.responsibilities:
            responsibilities.append(
                ResponsibilityRecord(next_id, role_number, r.text, r.keywords, ())
            )
            next_id += 1
        roles.append(RoleRecord(role_number, role.name, role.aliases, tuple(responsibilities)))
    return Catalog(workspace_id, 1, tuple(roles), spec.escalation_chain)


def phrases(catalog: Catalog) -> list[str]:
    return entry_phrases(catalog_entries(catalog))


def entry_phrases(entries: Sequence[CatalogEntry]) -> list[str]:
    return [p for entry in entries for p in (*entry.phrases, *entry.parts)]


@lru_cache(maxsize=1)
def _default_roles() -> dict[str, frozenset[str]]:
    return {
        key(role.name): frozenset(key(r.text) for r in role.responsibilities)
        for role in default_catalogue().roles
    }


def default_role_ids(catalog: Catalog) -> frozenset[int]:
    """The roles that are still the default catalogue's: its name, and all its responsibilities.

    The example questions were written for those; a role a team added or reshaped gets no help
    from them, whatever it is called."""
    defaults = _default_roles()
    return frozenset(
        role.id
        for role in catalog.roles
        if (texts := defaults.get(key(role.name))) is not None
        and texts <= {key(r.text) for r in role.responsibilities}
    )


def catalogue_fingerprint(entries: Sequence[CatalogEntry]) -> str:
    """What a matcher is built from, but the ids: workspaces whose catalogues read the same (the
    thousands that kept the default) share one matcher."""
    content = [
        (e.target.role, e.target.responsibility, list(e.phrases), list(e.parts)) for e in entries
    ]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()


class WorkspaceIndex:
    """The catalogue of one workspace with its matcher and role resolver, at one catalogue version."""

    def __init__(
        self,
        catalog: Catalog,
        thresholds: Thresholds | None = None,
        examples: ExampleModel | None = None,
        vectors: PhraseVectors | None = None,
        *,
        shared: Mapping[str, Matcher] | None = None,
        entries: Sequence[CatalogEntry] | None = None,
    ) -> None:
        """`shared`: matchers already built, by fingerprint; one for a catalogue that reads the
        same as this one is used with this workspace's ids instead of building another.
        `entries`: `catalog_entries(catalog)`, if the caller has them already."""
        self.catalog = catalog
        entries = catalog_entries(catalog) if entries is None else entries
        self.fingerprint = catalogue_fingerprint(entries)
        built = (shared or {}).get(self.fingerprint)
        self.matcher = (
            built.with_targets([e.target for e in entries])
            if built is not None
            else Matcher(
                entries,
                thresholds,
                examples,
                vectors=vectors,
                example_roles=default_role_ids(catalog),
            )
        )
        self.roles = RoleResolver(catalog.roles)
        # Only history is asked of retired roles ("who was the Tester in May").
        self.retired_roles = RoleResolver(catalog.retired)

    @property
    def version(self) -> int:
        return self.catalog.version


@dataclass(frozen=True)
class RegistryStats:
    workspaces: int  # indexes kept
    matchers: int  # distinct matchers they use
    phrases: int  # the phrases of those matchers: the memory they take grows with it
    builds: int  # matchers built since start (a shared one is not built again)
    evictions: int  # indexes dropped to stay within the budgets


class MatcherRegistry:
    """Caches each workspace's index; checks the version in the database at most every `recheck`
    seconds.

    Bounded for a replica serving thousands of workspaces: indexes are kept least recently used
    first out, at most `workspaces_kept` of them, and the distinct matchers they use within
    `phrase_budget` phrases. Workspaces whose catalogues read the same share one matcher, so the
    default catalogue costs one however many keep it. An index dropped is built again (from the
    store, and its phrase vectors from the process or the store) on its next question."""

    def __init__(
        self,
        db: Database,
        *,
        thresholds: Thresholds | None = None,
        examples: ExampleModel | None = None,
        vectors: PhraseVectors | None = None,
        recheck: float = 0.5,
        workspaces_kept: int = WORKSPACES_KEPT,
        phrase_budget: int = PHRASE_BUDGET,
    ) -> None:
        self._db = db
        self._thresholds = thresholds
        self._examples = examples
        self._vectors = vectors
        self._recheck = recheck
        self._workspaces_kept = workspaces_kept
        self._phrase_budget = phrase_budget
        self._indexes: OrderedDict[int, tuple[WorkspaceIndex, float]] = OrderedDict()
        # The matchers the kept indexes use, by fingerprint, and how many use each.
        self._matchers: dict[str, Matcher] = {}
        self._users: Counter[str] = Counter()
        self._phrases = 0
        self._builds = 0
        self._evictions = 0
        self._locks: dict[int, asyncio.Lock] = {}

    def stats(self) -> RegistryStats:
        return RegistryStats(
            len(self._indexes), len(self._matchers), self._phrases, self._builds, self._evictions
        )

    def kept(self, workspace_id: int) -> bool:
        return workspace_id in self._indexes

    def forget(self, workspace_id: int) -> None:
        dropped = self._indexes.pop(workspace_id, None)
        if dropped is not None:
            self._release(dropped[0])

    async def index(self, workspace_id: int) -> WorkspaceIndex:
        cached = self._indexes.get(workspace_id)
        now = time.monotonic()
        if cached:
            self._indexes.move_to_end(workspace_id)
            if now - cached[1] < self._recheck:
                return cached[0]
            version = await catalog_queries.catalog_version(self._db, workspace_id)
            if version == cached[0].version:
                if workspace_id in self._indexes:
                    self._indexes[workspace_id] = (cached[0], now)
                return cached[0]
        lock = self._locks.setdefault(workspace_id, asyncio.Lock())
        try:
            async with lock:
                current = self._indexes.get(workspace_id)
                if current and current[0] is not (cached[0] if cached else None):
                    return current[0]
                catalog = await catalog_queries.load_catalog(self._db, workspace_id)
                entries = catalog_entries(catalog)
                await self._embed(entry_phrases(entries))
                built = WorkspaceIndex(
                    catalog,
                    self._thresholds,
                    self._examples,
                    self._vectors,
                    shared=self._matchers,
                    entries=entries,
                )
                self._keep(workspace_id, built)
                return built
        finally:
            if not lock.locked():
                self._locks.pop(workspace_id, None)

    def _keep(self, workspace_id: int, index: WorkspaceIndex) -> None:
        self.forget(workspace_id)
        self._indexes[workspace_id] = (index, time.monotonic())
        fingerprint = index.fingerprint
        if fingerprint not in self._matchers:
            self._matchers[fingerprint] = index.matcher
            self._phrases += index.matcher.phrases
            self._builds += 1
        self._users[fingerprint] += 1
        while len(self._indexes) > 1 and (
            len(self._indexes) > self._workspaces_kept or self._phrases > self._phrase_budget
        ):
            _, (oldest, _) = self._indexes.popitem(last=False)
            self._release(oldest)
            self._evictions += 1

    def _release(self, index: WorkspaceIndex) -> None:
        fingerprint = index.fingerprint
        self._users[fingerprint] -= 1
        if self._users[fingerprint] <= 0:
            del self._users[fingerprint]
            matcher = self._matchers.pop(fingerprint, None)
            if matcher is not None:
                self._phrases -= matcher.phrases

    async def warm(self) -> None:
        """Embeds the default catalogue's phrases (or reads them from the store), so that no
        workspace's first question waits for them."""
        if self._vectors is not None:
            await self._embed(phrases(catalog_from_spec(default_catalogue())))

    async def _embed(self, texts: Sequence[str]) -> None:
        """Vectors for every phrase: from this process, else from the store, else embedded now
        (off the event loop) and kept in the store for the other replicas and the next start."""
        vectors = self._vectors
        if vectors is None:
            return
        missing = vectors.missing(texts)
        if not missing:
            return
        vectors.remember(await vector_queries.load_vectors(self._db, vectors.model, missing))
        still = vectors.missing(missing)
        if still:
            embedded = await asyncio.to_thread(vectors.embed_missing, still)
            await vector_queries.save_vectors(self._db, vectors.model, embedded)


def shipped_registry(
    db: Database,
    *,
    recheck: float = 0.5,
    workspaces_kept: int = WORKSPACES_KEPT,
    phrase_budget: int = PHRASE_BUDGET,
) -> MatcherRegistry:
    """The registry production runs: the shipped example model and the embedding model, each
    loaded once per process."""
    return MatcherRegistry(
        db,
        examples=shipped_model(),
        vectors=shipped_vectors(),
        recheck=recheck,
        workspaces_kept=workspaces_kept,
        phrase_budget=phrase_budget,
    )
