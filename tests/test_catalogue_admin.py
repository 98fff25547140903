"""A team makes the catalogue its own: --replace, reset, and chat edits, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot import cli, console
from bot.settings import Settings, SettingsError
from handlers.dispatch import Dispatcher
from handlers.matching.registry import MatcherRegistry
from handlers.turn import Services
from seed.markdown import parse_roles_markdown
from store import audit, catalog, workspaces
from store.catalogue_changes import replace_catalogue
from store.db import Database
from tests.helpers import say

TEAM_MD = """# Platform team

Who owns what on the platform team.

## Platform Engineer
- Kubernetes clusters and node pools
- Own the feature store (Feast) and its SLAs

## Release Manager
- Cut the release branch and tag the release

## Tester
- Integration tests for the inference API
"""


async def _console_workspace(dispatcher: Dispatcher) -> int:
    await say(dispatcher, "help")
    found = await workspaces.find_workspace(
        dispatcher.services.db, console.PLATFORM, console.WORKSPACE
    )
    assert found is not None
    return found.id


async def test_replace_keeps_adds_and_retires_with_history(
    dispatcher: Dispatcher, database: Database
) -> None:
    workspace_id = await _console_workspace(dispatcher)
    await say(dispatcher, "assign @alice as Tester")
    await say(dispatcher, "assign @bob as Scrum Master")
    spec = parse_roles_markdown(TEAM_MD)

    dry = await replace_catalogue(database, workspace_id, spec, dry_run=True)
    assert dry.kept == ("Tester",)
    assert set(dry.added) == {"Platform Engineer", "Release Manager"}
    assert "Scrum Master" in dry.retired and len(dry.retired) == 14
    assert [(e.person, e.role) for e in dry.ended] == [("bob", "Scrum Master")]
    assert len((await catalog.load_catalog(database, workspace_id)).roles) == 15  # unchanged

    plan = await replace_catalogue(database, workspace_id, spec)
    assert plan == dry
    dispatcher.services.matchers.forget(workspace_id)  # as the chat command does; others recheck
    current = await catalog.load_catalog(database, workspace_id)
    assert [r.name for r in current.roles] == ["Platform Engineer", "Release Manager", "Tester"]
    assert len(current.retired) == 14

    reply = await say(dispatcher, "who is the tester?")
    assert "alice" in reply.text  # a kept role keeps its holders
    reply = await say(dispatcher, "who looks after the kubernetes node pools?")
    assert reply.role == "Platform Engineer"
    reply = await say(dispatcher, "who is the scrum master?")
    assert reply.role != "Scrum Master"
    history = await say(dispatcher, "history of Scrum Master")
    assert "bob" in history.text and "retired Scrum Master" in history.text
    actions = [e.action for e in await audit.audit_entries(database, workspace_id)]
    assert "replace_catalogue" in actions and "retire_role" in actions

    # Naming a retired role again brings it back, without its old holders.
    back = await replace_catalogue(
        database, workspace_id, parse_roles_markdown(TEAM_MD + "\n## Scrum Master\n- Standups\n")
    )
    assert back.revived == ("Scrum Master",)
    dispatcher.services.matchers.forget(workspace_id)
    assert "Nobody holds" in (await say(dispatcher, "who is the scrum master?")).text


async def test_chat_edits_change_the_matcher_at_once(dispatcher: Dispatcher) -> None:
    workspace_id = await _console_workspace(dispatcher)
    await replace_catalogue(dispatcher.services.db, workspace_id, parse_roles_markdown(TEAM_MD))
    dispatcher.services.matchers.forget(workspace_id)
    steps = [
        ('add keyword "k8s" to Platform Engineer: Kubernetes', "added the keyword"),
        ("add role Security Champion", "added the role Security Champion"),
        ('add responsibility "Threat models for new services" to Security Champion', "added"),
        ("add alias AppSec to Security Champion", "added the alias"),
        ("rename role Tester to QA Engineer", "renamed the role Tester to QA Engineer"),
        ("edit responsibility QA Engineer: 1 to Contract tests for the inference API", "changed"),
        ("remove responsibility Release Manager: release branch", "removed"),
        ('remove keyword "k8s" from Platform Engineer: Kubernetes', "removed the keyword"),
        ("retire role Release Manager", "retired the role Release Manager"),
    ]
    for command, expected in steps:
        reply = await say(dispatcher, command)
        assert reply.intent == "catalogue" and expected in reply.text, (command, reply.text)
    assert (await say(dispatcher, "who does threat models?")).role == "Security Champion"
    assert (await say(dispatcher, "who is appsec")).role == "Security Champion"
    assert (await say(dispatcher, "who is the qa engineer")).role == "QA Engineer"
    names = [
        r.name for r in (await catalog.load_catalog(dispatcher.services.db, workspace_id)).roles
    ]
    assert names == ["Platform Engineer", "QA Engineer", "Security Champion"]


async def test_bad_edits_and_outsiders_get_clear_refusals(dispatcher: Dispatcher) -> None:
    workspace_id = await _console_workspace(dispatcher)
    version = (await catalog.load_catalog(dispatcher.services.db, workspace_id)).version
    refused = await say(dispatcher, "retire role Tester", user="mallory")
    assert refused.private and "can change the catalogue" in refused.text
    for command, expected in [
        ("add role Tester", "already a role called Tester"),
        ("rename role Tester to Scrum Master", "already a role called Scrum Master"),
        ("remove responsibility Tester: nothing like this", "has no responsibility"),
        ("add alias SM to Tester", "already names Scrum Master"),
        ("retire role Nonexistent Wizard", "don't know a role"),
    ]:
        reply = await say(dispatcher, command)
        assert reply.outcome in ("unknown", "clarify") and expected in reply.text, reply.text
    after = await catalog.load_catalog(dispatcher.services.db, workspace_id)
    assert after.version == version  # nothing was changed by any of them


async def test_another_replica_sees_an_edit(dispatcher: Dispatcher, services: Services) -> None:
    workspace_id = await _console_workspace(dispatcher)
    other = MatcherRegistry(services.db, recheck=0.0)
    assert (await other.index(workspace_id)).catalog.role_named("Platform SRE") is None
    await say(dispatcher, "add role Platform SRE")
    assert (await other.index(workspace_id)).catalog.role_named("Platform SRE") is not None


def test_cli_replace_dry_run_reset_and_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    roles = tmp_path / "roles.md"
    roles.write_text(TEAM_MD, encoding="utf-8")

    def run(*argv: str) -> str:
        out = io.StringIO()
        assert cli.main(list(argv), out=out) == 0
        return out.getvalue()

    run("db", "upgrade")
    run("ask", "assign @alice as Scrum Master")
    dry = run("catalog", "import", "--replace", "--dry-run", str(roles))
    assert "dry run" in dry and "alice as primary Scrum Master" in dry
    assert "Scrum Master" in run("catalog", "show")
    done = run("catalog", "import", "--replace", str(roles))
    assert "roles retired (14)" in done
    assert "Scrum Master" not in run("catalog", "show").split("retired:")[0]
    assert "added the role Data Wrangler" in run("catalog", "edit", "add", "role", "Data Wrangler")
    assert "roles retired (4)" in run("catalog", "reset", "--empty")
    assert "the catalogue is empty" in run("catalog", "show")
    assert "roles kept (0)" in run("catalog", "reset")
    assert "Scrum Master" in run("catalog", "show")


def test_new_workspaces_start_from_the_setting(tmp_path: Path) -> None:
    roles = tmp_path / "roles.md"
    roles.write_text(TEAM_MD, encoding="utf-8")
    own = Settings.from_env({"WHOOWNS_CATALOG": str(roles)}).new_catalogue
    assert own is not None and own.roles[0].name == "Platform Engineer"
    empty = Settings.from_env({"WHOOWNS_CATALOG": "empty"}).new_catalogue
    assert empty is not None and empty.roles == ()
    assert Settings.from_env({"WHOOWNS_CATALOG": "default"}).new_catalogue is None
    with pytest.raises(SettingsError, match="WHOOWNS_CATALOG"):
        Settings.from_env({"WHOOWNS_CATALOG": str(tmp_path / "missing.md")})


def test_markdown_with_role_headings() -> None:
    spec = parse_roles_markdown(TEAM_MD)
    assert [r.name for r in spec.roles] == ["Platform Engineer", "Release Manager", "Tester"]
    assert spec.roles[0].responsibilities[1].text == "Own the feature store (Feast) and its SLAs"
