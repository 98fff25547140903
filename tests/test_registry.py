"""Many workspaces on one replica: matchers shared by catalogues that read the same, and indexes
evicted least recently used first within the registry's budgets. Behaviour only; the figures
(memory, cold and warm latency) are measured by benchmarks/many_workspaces.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handlers.matching.matcher import Outcome
from handlers.matching.registry import MatcherRegistry, WorkspaceIndex, catalog_from_spec
from handlers.matching.registry import shipped_registry as shipped
from seed.catalogue import CatalogueSpec, ResponsibilitySpec, default_catalogue
from store import catalogue_changes, workspaces
from store.db import Database

DRIFT = "who handles data drift?"
# A responsibility no default role has, in words of its own.
OWN = "Curate the herbarium specimen scans"


def with_own(text: str = OWN) -> CatalogueSpec:
    """The default catalogue with one responsibility of the team's own."""
    default = default_catalogue()
    first = default.roles[0]
    extended = replace(
        first, responsibilities=(*first.responsibilities, ResponsibilitySpec(text, ()))
    )
    return replace(default, roles=(extended, *default.roles[1:]))


async def workspace(db: Database, name: str, spec: CatalogueSpec | None = None) -> int:
    found = await workspaces.ensure_workspace(db, "slack", name, name)
    if spec is not None:
        await catalogue_changes.replace_catalogue(db, found.id, spec)
    return found.id


async def answer(registry: MatcherRegistry, workspace_id: int, question: str) -> tuple[int, str]:
    index = await registry.index(workspace_id)
    match = await index.matcher.match_off_loop(question)
    assert match.outcome == Outcome.ANSWER and match.best is not None, match
    return match.best.target.role_id, match.best.target.role


def role_ids(index: WorkspaceIndex) -> set[int]:
    return {role.id for role in index.catalog.roles}


async def test_workspaces_that_kept_the_default_share_one_matcher_with_their_own_ids(
    database: Database,
) -> None:
    registry = shipped(database)
    first, second = await workspace(database, "T1"), await workspace(database, "T2")
    one, other = await registry.index(first), await registry.index(second)
    assert registry.stats().matchers == 1 and registry.stats().builds == 1
    assert role_ids(one).isdisjoint(role_ids(other))
    for workspace_id, index in ((first, one), (second, other)):
        role_id, role = await answer(registry, workspace_id, DRIFT)
        assert role == "Data Scientist" and role_id in role_ids(index)
        # The meaning stage answers with the workspace's ids too.
        closest = index.matcher.meaning("someone to keep an eye on our models' input going stale")
        assert closest and {c.role_id for c in closest} <= role_ids(index)


async def test_a_catalogue_of_its_own_gets_a_matcher_of_its_own(database: Database) -> None:
    registry = shipped(database)
    default, own = await workspace(database, "T1"), await workspace(database, "T2", with_own())
    _, role = await answer(registry, own, "who curates the herbarium specimen scans?")
    assert role == default_catalogue().roles[0].name
    unknown = await (await registry.index(default)).matcher.match_off_loop(
        "who curates the herbarium specimen scans?"
    )
    assert unknown.outcome != Outcome.ANSWER
    assert registry.stats().matchers == 2


async def test_the_least_recently_used_workspace_is_evicted_and_rebuilt_on_its_next_question(
    database: Database,
) -> None:
    registry = shipped(database, workspaces_kept=2)
    ids = [await workspace(database, f"T{n}", with_own(f"{OWN} of batch {n}")) for n in range(3)]
    for workspace_id in ids[:2]:
        await registry.index(workspace_id)
    await registry.index(ids[0])  # used again: the second is now the least recent
    await registry.index(ids[2])
    assert [registry.kept(i) for i in ids] == [True, False, True]
    assert registry.stats().evictions == 1 and registry.stats().workspaces == 2
    # Evicted is not forgotten: its next question builds it again and is answered as before.
    _, role = await answer(registry, ids[1], "who curates the herbarium specimen scans of batch 1?")
    assert role == default_catalogue().roles[0].name
    assert registry.kept(ids[1]) and registry.stats().workspaces == 2


async def test_the_phrase_budget_bounds_distinct_matchers_not_the_workspaces_sharing_one(
    database: Database,
) -> None:
    one_matcher = WorkspaceIndex(catalog_from_spec(with_own())).matcher.phrases
    registry = shipped(database, phrase_budget=one_matcher + one_matcher // 2)
    shared = [await workspace(database, f"D{n}") for n in range(4)]
    own = [await workspace(database, f"O{n}", with_own(f"{OWN} {n}")) for n in range(2)]
    for workspace_id in shared:
        await registry.index(workspace_id)
    assert registry.stats().workspaces == 4 and registry.stats().matchers == 1
    for workspace_id in own:
        await registry.index(workspace_id)
    stats = registry.stats()
    assert stats.phrases <= one_matcher + one_matcher // 2
    assert registry.kept(own[-1]) and stats.matchers == 1
    assert not any(registry.kept(i) for i in shared)


async def test_a_catalogue_edit_moves_one_workspace_off_the_shared_matcher(
    database: Database,
) -> None:
    registry = shipped(database, recheck=0.0)
    first, second = await workspace(database, "T1"), await workspace(database, "T2")
    await registry.index(first)
    await registry.index(second)
    await catalogue_changes.replace_catalogue(database, second, with_own())
    _, role = await answer(registry, second, "who curates the herbarium specimen scans?")
    assert role == default_catalogue().roles[0].name
    untouched = await (await registry.index(first)).matcher.match_off_loop(
        "who curates the herbarium specimen scans?"
    )
    assert untouched.outcome != Outcome.ANSWER
    assert registry.stats().matchers == 2 and registry.stats().workspaces == 2


def test_a_matcher_is_shared_only_by_a_catalogue_that_reads_the_same() -> None:
    matcher = WorkspaceIndex(catalog_from_spec(default_catalogue())).matcher
    other = WorkspaceIndex(catalog_from_spec(with_own()))
    with pytest.raises(ValueError, match="read the same"):
        matcher.with_targets(other.matcher.targets)
