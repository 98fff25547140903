"""App Home as the team's dashboard, end to end: the person's roles with Hand over / Set cover (a
modal filled in), the blockers they can act on with Acknowledge / Resolve, the project picker, and
Home published again when something that concerns the person changes. The real server, the Slack
fake, signed requests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack.home import PROJECT_PICKER
from tests.fakes.slack import FORM, FakeSlack, app_home_opened, home_click_body, post_signed
from tests.test_slack import ADMIN, SECRET, Server, settings_for, start_server
from tests.test_slack_forms import submit

JsonDict = dict[str, Any]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users={"U1": "Alice", "U2": "Bob", "U3": "Carol", ADMIN: "Admin"}) as fake:
        yield fake


@pytest.fixture
async def server(slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Server]:
    running = await start_server(
        settings_for(f"sqlite+aiosqlite:///{tmp_path / 'home.db'}", slack), slack
    )
    yield running
    await running.runner.cleanup()


def buttons(view: JsonDict) -> dict[str, tuple[str, JsonDict]]:
    """A Home view's buttons by label: (block id, the button)."""
    found = {}
    for block in view["blocks"]:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                found[element["text"]["text"]] = (block["block_id"], element)
    return found


async def click_home(server: Server, user: str, label: str) -> None:
    """A click on the button `label` of the Home the person sees now."""
    view = server.slack.homes[user]
    block_id, button = buttons(view)[label]
    body = home_click_body(
        button["action_id"], button["value"], user=user, view=view, block_id=block_id
    )
    status, _ = await post_signed(server.events_url, body, secret=SECRET, content_type=FORM)
    assert status == 200


async def test_my_roles_on_home_hand_over_through_a_filled_in_form(server: Server) -> None:
    await server.command("assign <@U1> as Scrum Master", user=ADMIN)
    # Published without U1 opening Home: the assignment concerns them.
    home = await server.slack.home_of("U1", "Hand over Scrum Master")
    assert {"Hand over Scrum Master", "Set cover for Scrum Master"} <= set(buttons(home))
    assert "Your roles" in json.dumps(home) and "Blockers you can act on" in json.dumps(home)

    before = len(server.slack.calls_to("views.open"))
    await click_home(server, "U1", "Hand over Scrum Master")
    [*_, opened] = await server.slack.wait_for("views.open", before + 1)
    form = opened.response["view"]
    assert form["callback_id"] == "whoowns_form_handover"
    role = next(b for b in form["blocks"] if b["block_id"] == "role")["element"]
    assert role["initial_option"]["value"] == "Scrum Master"

    assert await submit(server, form, user="U1", role="Scrum Master", person="U2") == {}
    await server.slack.home_of("U2", "Hand over Scrum Master")  # the new holder's Home too
    after = await server.slack.home_of("U1", "hold no role")
    assert "Hand over Scrum Master" not in buttons(after)


async def test_blockers_i_can_act_on_are_acknowledged_and_resolved_from_home(
    server: Server,
) -> None:
    await server.command("assign <@U1> as Scrum Master", user=ADMIN)
    await server.mention("escalate: blocked on GPU quota", user="U2")
    # The notice delivered to the Scrum Master refreshes their Home.
    home = await server.slack.home_of("U1", "Acknowledge #1")
    assert "blocked on GPU quota" in json.dumps(home) and "Resolve #1" in buttons(home)

    await click_home(server, "U1", "Acknowledge #1")
    acked = await server.slack.home_of("U1", "acknowledged by")
    assert "Acknowledge #1" not in buttons(acked) and "Resolve #1" in buttons(acked)

    await click_home(server, "U1", "Resolve #1")
    await server.slack.home_of("U1", "no open escalations")
    status = await server.mention("blockers")
    assert "No open blockers" in str(status.args.get("text"))


async def test_the_project_picker_shows_another_project(server: Server) -> None:
    assert await server.event(app_home_opened(ADMIN)) == 200
    single = await server.slack.home_of(ADMIN, "Your team")
    assert PROJECT_PICKER not in json.dumps(single)  # one project: nothing to pick

    await server.command("create project fraud-detection", user=ADMIN)
    assert await server.event(app_home_opened(ADMIN)) == 200
    home = await server.slack.home_of(ADMIN, PROJECT_PICKER)
    picker = next(
        b for b in home["blocks"] if b.get("accessory", {}).get("type") == "static_select"
    )
    assert [o["value"] for o in picker["accessory"]["options"]] == ["default", "fraud-detection"]

    body = home_click_body(
        PROJECT_PICKER,
        "",
        user=ADMIN,
        view=home,
        block_id="whoowns_project",
        selected="fraud-detection",
    )
    status, _ = await post_signed(server.events_url, body, secret=SECRET, content_type=FORM)
    assert status == 200
    picked = await server.slack.home_of(ADMIN, "project fraud-detection")
    assert json.loads(picked["private_metadata"]) == {"project": "fraud-detection"}
    chosen = picked["blocks"][0]["accessory"]["initial_option"]["value"]
    assert chosen == "fraud-detection"


async def test_home_opens_any_form_at_the_top(server: Server) -> None:
    assert await server.event(app_home_opened("U1")) == 200
    home = await server.slack.home_of("U1", "Escalate a blocker")
    assert {"Escalate a blocker", "Assign a role", "Hand over a role", "Set cover"} <= set(
        buttons(home)
    )
    before = len(server.slack.calls_to("views.open"))
    await click_home(server, "U1", "Escalate a blocker")
    [*_, opened] = await server.slack.wait_for("views.open", before + 1)
    assert opened.response["view"]["callback_id"] == "whoowns_form_escalate"
