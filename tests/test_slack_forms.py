"""Slack's native surfaces end to end: modals from a bare `/whoowns assign`, their submission
(errors on the field, permissions checked on submit), the role menu's options for a large
catalogue, and the message shortcuts. The real server, the Slack fake, signed requests."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.slack.modals import ESCALATE_MESSAGE, WHO_OWNS_MESSAGE
from tests.fakes.slack import (
    FORM,
    FakeSlack,
    SlackCall,
    block_suggestion_body,
    command_body,
    message_action_body,
    new_trigger_id,
    post_signed,
    view_submission_body,
)
from tests.helpers import eventually
from tests.test_slack import ADMIN, SECRET, Server, settings_for, start_server

JsonDict = dict[str, Any]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users={"U1": "Alice", "U2": "Bob", "U3": "Carol", ADMIN: "Admin"}) as fake:
        yield fake


@pytest.fixture
async def server(slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Server]:
    running = await start_server(
        settings_for(f"sqlite+aiosqlite:///{tmp_path / 'forms.db'}", slack), slack
    )
    yield running
    await running.runner.cleanup()


async def open_form(server: Server, text: str, user: str = ADMIN) -> JsonDict:
    """`/whoowns <text>` with a fresh trigger_id; the modal it opened."""
    before = len(server.slack.calls_to("views.open"))
    body = command_body(
        text,
        user_id=user,
        trigger_id=new_trigger_id(),
        response_url=server.slack.response_url(uuid.uuid4().hex),
    )
    status, _ = await post_signed(server.events_url, body, secret=SECRET, content_type=FORM)
    assert status == 200
    [*_, opened] = await server.slack.wait_for("views.open", before + 1)
    assert opened.response.get("ok"), opened.response
    view: JsonDict = opened.response["view"]
    return view


def chosen(**fields: str) -> JsonDict:
    """view.state.values as Slack sends them, for the elements our modals use."""
    values: JsonDict = {}
    for name, value in fields.items():
        if name == "person":
            state: JsonDict = {"type": "users_select", "selected_user": value}
        elif name == "until":
            state = {"type": "datepicker", "selected_date": value}
        elif name in ("text", "note", "reason"):
            state = {"type": "plain_text_input", "value": value}
        else:
            kind = "external_select" if name == "role" else "static_select"
            state = {"type": kind, "selected_option": {"text": {}, "value": value}}
        values[name] = {"role" if name == "role" else name: state}
    return values


async def submit(server: Server, view: JsonDict, user: str = ADMIN, **fields: str) -> JsonDict:
    body = view_submission_body(view, chosen(**fields), user=user)
    status, text = await post_signed(server.events_url, body, secret=SECRET, content_type=FORM)
    assert status == 200
    return json.loads(text) if text else {}


def block_ids(view: JsonDict) -> list[str]:
    return [b["block_id"] for b in view["blocks"]]


async def test_a_bare_assign_opens_a_modal_and_its_submission_assigns(server: Server) -> None:
    view = await open_form(server, "assign")
    assert view["callback_id"] == "whoowns_form_assign"
    assert block_ids(view) == ["role", "person", "kind", "reason"]  # one project: no menu
    role_menu = next(b for b in view["blocks"] if b["block_id"] == "role")["element"]
    assert role_menu["type"] == "static_select" and len(role_menu["options"]) == 15

    missing = await submit(server, view, role="Scrum Master")
    assert missing["response_action"] == "errors" and "person" in missing["errors"]

    answer = await submit(server, view, role="Scrum Master", person="U2", kind="primary")
    assert answer == {}  # the modal closes
    posted = await eventually(
        lambda: [
            c
            for c in server.slack.calls_to("chat.postMessage")
            if "Scrum Master" in str(c.args.get("text")) and c.args.get("channel") == "C1"
        ]
    )
    assert "<@U2>" in str(posted[0].args["text"])
    holders = await server.mention("who is the scrum master?")
    assert "<@U2>" in str(holders.args.get("text"))


async def test_permissions_are_checked_when_the_form_is_submitted(server: Server) -> None:
    view = await open_form(server, "assign", user="U1")  # anyone may open it
    refused = await submit(server, view, user="U1", role="Scrum Master", person="U3")
    assert refused.get("response_action") == "errors", refused
    assert "Only" in refused["errors"]["role"]
    nobody = await server.mention("who is the scrum master?")
    assert "<@U3>" not in str(nobody.args.get("text"))


async def test_cover_checks_its_date_on_the_field(server: Server) -> None:
    view = await open_form(server, "cover")
    assert "until" in block_ids(view)
    past = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    answer = await submit(server, view, role="Tester", person="U2", until=past)
    assert answer["response_action"] == "errors" and "today" in answer["errors"]["until"]


async def test_a_used_or_stale_trigger_opens_nothing(server: Server, slack: FakeSlack) -> None:
    trigger = new_trigger_id()
    for _ in range(2):
        body = command_body(
            "assign",
            user_id=ADMIN,
            trigger_id=trigger,
            response_url=slack.response_url(uuid.uuid4().hex),
        )
        await post_signed(server.events_url, body, secret=SECRET, content_type=FORM)
    calls = await slack.wait_for("views.open", 2)
    assert [c.response.get("error") for c in calls] == [None, "exchanged_trigger_id"]


async def test_a_large_catalogue_loads_role_options_as_people_type(server: Server) -> None:
    for n in range(100):
        await server.command(f"add role Specialist {n:03d}", user=ADMIN)
    view = await open_form(server, "assign")
    role_menu = next(b for b in view["blocks"] if b["block_id"] == "role")["element"]
    assert role_menu["type"] == "external_select"
    body = block_suggestion_body("role", "role", "specialist 04", view, user=ADMIN)
    status, text = await post_signed(server.events_url, body, secret=SECRET, content_type=FORM)
    assert status == 200
    options = [o["value"] for o in json.loads(text)["options"]]
    assert options == [f"Specialist {n:03d}" for n in range(40, 50)]


async def test_escalate_this_message_opens_the_form_with_its_text_and_link(
    server: Server, slack: FakeSlack
) -> None:
    await server.command("assign <@U3> as Scrum Master", user=ADMIN)
    body = message_action_body(
        ESCALATE_MESSAGE,
        "the GPU quota is used up again",
        message_ts="1700000123.000400",
        response_url=slack.response_url("shortcut"),
    )
    status, _ = await post_signed(server.events_url, body, secret=SECRET, content_type=FORM)
    assert status == 200
    [opened] = await slack.wait_for("views.open")
    view = opened.response["view"]
    text_block = next(b for b in view["blocks"] if b["block_id"] == "text")
    prefilled = text_block["element"]["initial_value"]
    assert "GPU quota is used up" in prefilled and "/archives/C1/p1700000123000400" in prefilled

    answer = await submit(server, view, user="U1", text=prefilled, note="training is stuck")
    assert answer == {}
    posted: list[SlackCall] = await eventually(
        lambda: [c for c in slack.calls_to("chat.postMessage") if "#1" in str(c.args.get("text"))]
    )
    assert posted[0].args.get("thread_ts") == "1700000123.000400"  # in the message's thread
    await eventually(
        lambda: [
            c
            for c in slack.calls_to("chat.postMessage")
            if c.args.get("channel") == "DU3" and "training is stuck" in str(c.args.get("text"))
        ]
    )


async def test_who_owns_this_answers_privately(server: Server, slack: FakeSlack) -> None:
    await server.command("assign <@U2> as Data Scientist", user=ADMIN)
    body = message_action_body(
        WHO_OWNS_MESSAGE,
        "can someone look at the data drift alerts",
        response_url=slack.response_url("who-owns"),
    )
    status, _ = await post_signed(server.events_url, body, secret=SECRET, content_type=FORM)
    assert status == 200
    [answer] = await eventually(
        lambda: [c for c in slack.calls_to("response_url") if c.name == "who-owns"]
    )
    assert answer.args["response_type"] == "ephemeral" and "<@U2>" in str(answer.args["text"])
