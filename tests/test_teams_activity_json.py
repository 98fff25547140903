"""`bot/teams/activity_json.py` reads and writes Bot Framework models exactly as msrest does.

It replaces msrest on every Teams turn, so it is checked against msrest itself: on the activities
Teams sends (from the fake connector's builders), on the replies we send, and on generated bodies
with every attribute type the schema uses, values of the wrong type included.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ConversationReference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msrest.exceptions import DeserializationError  # type: ignore[attr-defined]
from msrest.serialization import Serializer

from bot.teams import render
from bot.teams.activity_json import read_activity, read_model, write_model
from handlers.message import CandidateFact, PersonMention, Reply, line
from tests.fakes.botframework import (
    card_submit,
    channel_message,
    conversation_update_members_added,
    personal_message,
)

SERVICE_URL = "http://127.0.0.1:1/teams/"
MSREST = Serializer(dict(Activity._infer_class_models()))  # type: ignore[no-untyped-call]


def msrest_write(activity: Activity) -> Any:
    return MSREST.body(activity, "Activity")  # type: ignore[no-untyped-call]


def msrest_read(body: dict[str, Any]) -> Activity:
    return Activity().deserialize(body)


@pytest.mark.parametrize(
    "body",
    [
        personal_message("who handles data drift?", service_url=SERVICE_URL),
        personal_message(
            "assign <at>Bob</at> as tester",
            service_url=SERVICE_URL,
            mentions=(("29:bob", "Bob"),),
            activity_id="1700000000000",
        ),
        channel_message(
            "<at>whoowns</at> who is the scrum master?",
            service_url=SERVICE_URL,
            mentions=(("28:bot", "whoowns"),),
        ),
        card_submit(
            {"action": "choose", "choice": "3"},
            service_url=SERVICE_URL,
            conversation="channel",
            reply_to_id="1700000000001",
        ),
        conversation_update_members_added(service_url=SERVICE_URL),
    ],
    ids=["personal", "personal-mention", "channel", "card-submit", "members-added"],
)
def test_activities_from_teams_read_as_msrest_reads_them(body: dict[str, Any]) -> None:
    read_model(Activity, body)  # no fallback to msrest: what Teams sends takes the fast path
    ours = read_activity(body)
    assert ours == msrest_read(body)
    assert [e.additional_properties for e in ours.entities or []] == [
        e.additional_properties for e in msrest_read(body).entities or []
    ]


def _replies() -> list[Activity]:
    alice = PersonMention("29:alice", "Alice")
    reply = Reply(
        intent="who_owns",
        body=[line("Data drift is handled by ", alice, " (Data Scientist).")],
        choices=[
            CandidateFact(1, "Data Scientist", 7, "Data drift", 0.5),
            CandidateFact(2, "MLOps Engineer", None, None, 0.4),
        ],
        question="who handles drift?",
    )
    plain = Reply(intent="help", body=[line("I don't know who handles that.")])
    return [
        render.as_activity(render.reply_activity(reply)),
        render.as_activity(render.reply_activity(plain)),
    ]


@pytest.mark.parametrize("reply", _replies(), ids=["with-mention-and-choices", "plain"])
def test_replies_write_as_msrest_writes_them(reply: Activity) -> None:
    incoming = read_activity(personal_message("hi", service_url=SERVICE_URL))
    reference = TurnContext.get_conversation_reference(incoming)
    assert isinstance(reference, ConversationReference)
    addressed = TurnContext.apply_conversation_reference(reply, reference)
    addressed.timestamp = datetime(2026, 11, 26, 15, 0, 0, 120000, tzinfo=UTC)
    assert write_model(addressed) == msrest_write(addressed)


# --- generated bodies ------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_TIMES = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
).map(lambda t: t.isoformat())
_TEAMS_TIMES = st.sampled_from(["2026-11-26T15:00:00.1234567Z", "2026-11-26T15:00:00Z"])


def _value(kind: str, depth: int) -> st.SearchStrategy[Any]:
    """A JSON value of the declared type, or now and then of another type."""
    wrong = _JSON
    if kind == "str":
        right: st.SearchStrategy[Any] = st.text(max_size=10)
    elif kind == "bool":
        right = st.booleans()
    elif kind == "int":
        right = st.integers(-1000, 1000)
    elif kind == "float":
        right = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 5)
    elif kind == "object":
        right = _JSON
    elif kind == "iso-8601":
        right = _TIMES | _TEAMS_TIMES
        wrong = st.text(max_size=6)
    elif kind.startswith("[") and depth < 2:
        right = st.lists(_value(kind[1:-1], depth + 1), max_size=2)
    elif kind.startswith("{") and depth < 2:
        right = st.dictionaries(st.text(max_size=4), _value(kind[1:-1], depth + 1), max_size=2)
    elif kind in MSREST.dependencies and depth < 2:
        right = _body(MSREST.dependencies[kind], depth + 1)
    else:
        right = st.none()
    # Mostly right, so that most whole bodies take the fast path, which is what is under test.
    return st.integers(0, 29).flatmap(lambda roll: wrong if roll == 0 else right)


def _body(model: Any, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    fields = {d["key"]: _value(d["type"], depth) for d in model._attribute_map.values()}
    extra = st.dictionaries(st.sampled_from(["Type", "mentioned", "etag", "x"]), _JSON, max_size=1)
    return st.builds(
        lambda chosen, more: {**more, **chosen},
        st.fixed_dictionaries({}, optional=fields),
        extra,
    )


def _outcome(read: Any, body: dict[str, Any]) -> Any:
    try:
        return read(body)
    except DeserializationError:
        return DeserializationError


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_body(Activity))
def test_generated_bodies_read_as_msrest_reads_them(body: dict[str, Any]) -> None:
    ours = _outcome(read_activity, body)
    theirs = _outcome(msrest_read, body)
    assert ours == theirs
    if isinstance(ours, Activity):
        assert write_model_or_msrest(ours) == msrest_write(theirs)


def write_model_or_msrest(activity: Activity) -> Any:
    """What the connector sends for a read activity (echoed back, as a bot might)."""
    from bot.teams.activity_json import Unsupported

    try:
        return write_model(activity)
    except Unsupported:
        return msrest_write(activity)
