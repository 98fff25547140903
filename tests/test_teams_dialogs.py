"""Teams' native surfaces end to end: dialogs (task modules) opened from card buttons and their
submission, the message extension's search and its "Escalate this message" action. The real
server, the fake Bot Framework connector, invoke activities as Teams sends them, answers read from
the HTTP response."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.teams.dialogs import ESCALATE_COMMAND, FORM_KEY, WHO_OWNS_COMMAND
from bot.teams.package import TEAMS_DIR
from tests.fakes.botframework import (
    FakeConnector,
    aad_object_id_for,
    compose_action,
    compose_query,
    invoke,
    message_payload,
    post_activity,
    task_fetch,
    task_submit,
)
from tests.test_teams import ADMIN, ALICE, BOB, Server, card_actions, settings_for, start_server

JsonDict = dict[str, Any]


@pytest.fixture
async def server(connector: FakeConnector, tmp_path: Path) -> AsyncIterator[Server]:
    running = await start_server(settings_for(tmp_path), connector)
    connector.add_member(ALICE, "Alice")
    connector.add_member(BOB, "Bob Baker")
    await running.channel("hello")  # the team is known from now on: its roster can be read
    yield running
    await running.runner.cleanup()


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with FakeConnector() as fake:
        yield fake


async def ask(server: Server, activity: JsonDict) -> tuple[int, JsonDict]:
    status, text = await post_activity(server.messages_url, activity)
    return status, (json.loads(text) if text else {})


def dialog_card(answer: JsonDict) -> JsonDict:
    task = answer["task"]
    assert task["type"] == "continue", answer
    card: JsonDict = task["value"]["card"]["content"]
    return card


def inputs(card: JsonDict) -> dict[str, JsonDict]:
    return {b["id"]: b for b in card["body"] if b["type"].startswith("Input.")}


async def test_hand_over_from_my_roles_opens_a_dialog_and_its_submission_hands_over(
    server: Server,
) -> None:
    await server.personal(
        "assign <at>Alice</at> as Scrum Master",
        user=ADMIN,
        name="Admin",
        mentions=((ALICE, "Alice"),),
    )
    mine = await server.personal("my roles")
    [handover] = [a for a in card_actions(mine) if a["title"] == "Hand over Scrum Master"]
    assert handover["data"]["msteams"] == {"type": "task/fetch"}

    where = {"service_url": server.connector.service_url}
    status, answer = await ask(server, task_fetch(handover["data"], **where))
    assert status == 200
    card = dialog_card(answer)
    fields = inputs(card)
    assert fields["role"]["value"] == "Scrum Master"
    assert fields["person"]["choices.data"]["dataset"] == "graph.microsoft.com/users"
    submit_data = card["actions"][0]["data"]
    assert submit_data[FORM_KEY] == "handover"

    picked = {**submit_data, "role": "Scrum Master", "person": aad_object_id_for(BOB)}
    status, answer = await ask(server, task_submit(picked, **where))
    assert status == 200 and answer == {"task": {"type": "message", "value": "Done."}}
    holders = await server.personal("who is the scrum master?")
    assert "<at>Bob Baker</at>" in str(holders.activity.get("text"))


async def test_a_dialog_shows_problems_and_refusals_on_its_fields(server: Server) -> None:
    where = {"service_url": server.connector.service_url}
    cover = {FORM_KEY: "cover", "role": "Tester", "person": aad_object_id_for(BOB)}
    status, answer = await ask(server, task_submit({**cover, "until": "2020-01-01"}, **where))
    assert status == 200
    card = dialog_card(answer)
    assert inputs(card)["role"]["value"] == "Tester"  # what was given is kept
    problems = [b["text"] for b in card["body"] if b.get("color") == "attention"]
    assert problems == ["Pick today or a day after."]

    assign = {FORM_KEY: "assign", "role": "Team Lead", "person": aad_object_id_for(BOB)}
    status, answer = await ask(server, task_submit(assign, **where))  # Alice is no admin
    card = dialog_card(answer)
    [refusal] = [b["text"] for b in card["body"] if b.get("color") == "attention"]
    assert "Only" in refusal

    stranger = {**assign, "person": aad_object_id_for("29:nobody")}
    status, answer = await ask(server, task_submit(stranger, user_id=ADMIN, **where))
    [missing] = [b["text"] for b in dialog_card(answer)["body"] if b.get("color") == "attention"]
    assert "can't find them" in missing


async def test_the_compose_box_searches_who_owns_what(server: Server) -> None:
    where = {"service_url": server.connector.service_url}
    await server.personal(
        "assign <at>Bob</at> as Data Scientist", user=ADMIN, name="Admin", mentions=((BOB, "Bob"),)
    )
    status, first = await ask(server, compose_query(WHO_OWNS_COMMAND, None, **where))
    assert status == 200 and first["composeExtension"]["type"] == "message"

    status, found = await ask(server, compose_query(WHO_OWNS_COMMAND, "data drift", **where))
    assert status == 200
    results = found["composeExtension"]
    assert results["type"] == "result" and results["attachmentLayout"] == "list"
    top = results["attachments"][0]
    assert top["preview"]["content"]["title"] == "Data Scientist"
    assert top["preview"]["content"]["text"] == "Bob"
    assert top["content"]["type"] == "AdaptiveCard"

    status, none = await ask(server, compose_query(WHO_OWNS_COMMAND, "the lunch menu", **where))
    assert none["composeExtension"]["type"] == "message"


async def test_escalate_this_message_from_the_message_extension(
    server: Server, connector: FakeConnector
) -> None:
    where: dict[str, Any] = {"service_url": connector.service_url, "conversation": "channel"}
    payload = message_payload("blocked on GPU quota")
    status, answer = await ask(
        server, compose_action("fetchTask", ESCALATE_COMMAND, payload, **where)
    )
    assert status == 200
    card = dialog_card(answer)
    text = inputs(card)["text"]["value"]
    assert text.startswith("blocked on GPU quota (https://teams.microsoft.com/l/message/")

    data = {**card["actions"][0]["data"], "text": text}
    before = len(connector.sent)
    status, answer = await ask(
        server,
        compose_action(
            "submitAction", ESCALATE_COMMAND, payload, data, thread_id="1700000000123", **where
        ),
    )
    assert status == 200 and answer["task"]["type"] == "message"
    posted = [
        s for s in connector.sent[before:] if "Escalated as #1" in str(s.activity.get("text"))
    ]
    assert posted, "the blocker is announced in the thread where it came up"
    blockers = await server.personal("blockers")
    assert "blocked on GPU quota" in str(blockers.activity.get("text"))


async def test_an_invoke_we_do_not_handle_is_answered_not_implemented(server: Server) -> None:
    activity = invoke("adaptiveCard/action", {}, service_url=server.connector.service_url)
    status, _ = await ask(server, activity)
    assert status == 501


def test_the_manifest_declares_the_message_extension_the_bot_answers() -> None:
    manifest = json.loads((TEAMS_DIR / "manifest.json").read_text(encoding="utf-8"))
    [extension] = manifest["composeExtensions"]
    assert extension["botId"] == manifest["bots"][0]["botId"]
    commands = {c["id"]: c for c in extension["commands"]}
    assert commands[WHO_OWNS_COMMAND]["type"] == "query"
    assert commands[WHO_OWNS_COMMAND]["parameters"][0]["name"] == "query"
    escalate = commands[ESCALATE_COMMAND]
    assert escalate["type"] == "action" and escalate["context"] == ["message"]
    assert escalate["fetchTask"] is True


async def test_a_bare_command_offers_its_form_as_a_dialog(server: Server) -> None:
    offered = await server.personal("assign")
    [button] = card_actions(offered)
    assert button["title"] == "Assign a role" and button["data"]["msteams"]["type"] == "task/fetch"
    status, answer = await ask(
        server, task_fetch(button["data"], service_url=server.connector.service_url)
    )
    assert status == 200 and answer["task"]["value"]["title"] == "Assign a role"
    assert set(inputs(dialog_card(answer))) == {"role", "person", "kind", "reason"}
