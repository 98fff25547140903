"""Deleting a workspace: everything of it goes, in one transaction, and nothing of another."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from bot.cli import build_parser
from bot.cli import run as cli_run
from bot.settings import Settings
from handlers.dispatch import Dispatcher
from handlers.message import Mention, Message
from store import migrate, slack_installs, workspaces
from store.db import Database


def _said(team: str, text: str, user: str, mentions: tuple[Mention, ...] = ()) -> Message:
    return Message(platform="slack", workspace=team, user_id=user, text=text, mentions=mentions)


async def _team_with_history(dispatcher: Dispatcher, team: str) -> None:
    carol = (Mention("U3", "Carol"),)
    await dispatcher.handle(_said(team, "assign @U3 as Scrum Master", "U_ADMIN", carol))
    await dispatcher.handle(_said(team, "escalate: blocked on GPU quota", "U1"))


async def test_deleting_a_workspace_removes_all_of_it_and_nothing_else(
    dispatcher: Dispatcher, database: Database
) -> None:
    for team in ("T1", "T2"):
        await _team_with_history(dispatcher, team)
        await slack_installs.save_installation(
            database,
            enterprise_id=None,
            team_id=team,
            tokens=slack_installs.Tokens(f"xoxb-{team}", None, None),
            details={},
            installed_at=datetime.now(UTC),
        )
    doomed = await workspaces.find_workspace(database, "slack", "T1")
    kept = await workspaces.find_workspace(database, "slack", "T2")
    assert doomed is not None and kept is not None
    before = await workspaces.workspace_contents(database, kept.id)
    removed = await workspaces.delete_workspace(database, doomed.id)
    assert removed == before  # the same history in both
    assert removed["people"] == 3 and removed["assignments"] == 1 and removed["escalations"] == 1
    assert removed["audit entries"] >= 2 and removed["notifications"] == 2
    assert removed["Slack installations"] == 1
    assert (
        await slack_installs.find_installation(database, enterprise_id=None, team_id="T1") is None
    )
    assert await slack_installs.find_installation(database, enterprise_id=None, team_id="T2")
    assert await workspaces.find_workspace(database, "slack", "T1") is None
    assert await workspaces.workspace_contents(database, doomed.id) == dict.fromkeys(removed, 0)
    assert await workspaces.workspace_contents(database, kept.id) == before


async def test_workspace_delete_asks_for_yes_and_says_what_it_removed(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    db = Database(settings.database_url)
    await migrate.upgrade(db)
    await workspaces.ensure_workspace(db, "slack", "T9", "Nine")
    await db.dispose()

    async def whoowns(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        try:
            code = await cli_run(build_parser().parse_args(argv), settings, out)
        except Exception as error:  # the CLI's main turns these into exit code 2
            return 2, str(error)
        return code, out.getvalue()

    code, said = await whoowns("workspace", "delete", "slack:T9")
    assert code == 0 and "nothing deleted: add --yes" in said and "1 projects" in said
    code, said = await whoowns("workspace", "delete", "slack:T9", "--yes")
    assert code == 0 and said.startswith("deleted slack:T9: 1 projects, 15 roles, 0 people")
    assert await whoowns("workspace", "delete", "slack:T9", "--yes") == (
        2,
        "there is no workspace slack:T9",
    )
