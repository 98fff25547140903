"""Property-based tests (hypothesis) that hunt for crashes and inconsistencies.

1. The message path: any text, from an admin or from an ordinary member, gets a reply (never an
   exception) with text and a known intent; a member's refused commands leave the store unchanged.
2. The importers (markdown roles documents, YAML/CSV team files): a valid spec or a CatalogueError
   naming a line, never anything else; export then import gives back the same team.
3. The matcher: at most three candidates from distinct roles, scores in [0, 1], best first.
4. The Slack and Teams text normalisers: never raise; every mention they return is in the text.

The store-backed tests share one SQLite file per module and one event loop of their own: hypothesis
runs examples synchronously, and function-scoped async fixtures cannot be re-entered per example.

An `@example` under a "# Found (module): …" comment is a failure these properties found in the
product code; it stays as a regression check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
import shutil
import string
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from botbuilder.schema import Activity
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import String

from bot.console import console_message
from bot.slack.adapter import normalise as slack_normalise
from bot.teams.adapter import normalise as teams_normalise
from handlers.dispatch import Dispatcher
from handlers.intents import build_router
from handlers.matching.examples import shipped_model
from handlers.matching.matcher import Matcher, Outcome
from handlers.matching.registry import (
    MatcherRegistry,
    catalog_entries,
    catalog_from_spec,
    shipped_registry,
)
from handlers.message import Reply
from handlers.turn import HandlerConfig, Services
from seed.catalogue import (
    CatalogueError,
    CatalogueSpec,
    ResponsibilitySpec,
    RoleSpec,
    default_catalogue,
)
from seed.markdown import parse_roles_markdown
from seed.transfer import KINDS, AssignmentSpec, TeamFile, parse_team_file, to_csv, to_yaml
from store import migrate
from store.db import Database
from store.models import Base

T = TypeVar("T")

DEFAULT = default_catalogue()
ROLE_NAMES = [role.name for role in DEFAULT.roles]
INTENTS = frozenset(build_router().intents) | {"error"}
MEMBER = "somebody"  # never an admin (the admins are {"U_ADMIN"}) and never given a role

# Store-backed examples cost a few milliseconds each; these counts keep the file well under a minute.
STORE_EXAMPLES = 150
PARSER_EXAMPLES = 300
FAST_EXAMPLES = 300


# --------------------------------------------------------------------------------------------
# A store of our own: one SQLite file and one event loop for the module. Every example starts from
# the same state (a copy of the file as set up), so that hypothesis can replay and shrink it.

CONFIG = HandlerConfig(admins=frozenset({"U_ADMIN"}))

# Set up by the operator (an admin): holders to remove or hand over, a cover, a second project, a
# linked channel and escalations the member did not raise, so that refused commands have something
# to refuse and history has something to tell.
STORE_SETUP = (
    "assign @alice as Scrum Master",
    "assign @bob as Team Lead",
    "add @carol as backup Tester",
    "assign @erin as Data Scientist",
    "@dave covers Data Scientist until 2099-12-31",
    "create project side-project",
    "escalate: seeded blocker one",
    "escalate to the project manager: seeded blocker two",
    "blocker: seeded blocker three",
    "ack #2",
    "resolve #3 done already",
)
LINKED_CHANNEL = "C-linked"


@dataclass
class Store:
    loop: asyncio.AbstractEventLoop
    database: Database
    path: Path
    template: Path
    # Shared by every example: building the matcher is the slow part, and the catalogue never moves.
    matchers: MatcherRegistry
    dispatcher: Dispatcher

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def say(
        self,
        text: str,
        *,
        user: str | None = None,
        project: str | None = None,
        channel: str | None = None,
    ) -> Reply:
        message = console_message(text, user=user, project=project, channel=channel)
        return self.run(self.dispatcher.handle(message))

    def reset(self) -> None:
        """Back to the state right after set-up, with a dispatcher that remembers nothing yet."""
        self.run(self.database.dispose())
        for suffix in ("-wal", "-shm", "-journal"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        shutil.copyfile(self.template, self.path)
        self.dispatcher = Dispatcher(
            Services(db=self.database, matchers=self.matchers, config=CONFIG)
        )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A migrated, set-up SQLite store; its engine is disposed and its loop closed afterwards."""
    directory = tmp_path_factory.mktemp("store")
    path = directory / "whoowns.db"
    loop = asyncio.new_event_loop()
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        loop.run_until_complete(migrate.upgrade(database))
        matchers = shipped_registry(database)
        dispatcher = Dispatcher(Services(db=database, matchers=matchers, config=CONFIG))
        store = Store(loop, database, path, directory / "template.db", matchers, dispatcher)
        for text in STORE_SETUP:
            reply = store.say(text)
            assert reply.outcome == "answer", (text, reply.text)
        reply = store.say("link this channel to project side-project", channel=LINKED_CHANNEL)
        assert reply.outcome == "answer", reply.text
        store.run(database.dispose())
        shutil.copyfile(path, store.template)
        yield store
    finally:
        loop.run_until_complete(database.dispose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


# The tables a member's refused command must not touch. Escalations and audit entries are compared
# apart, because a member may raise escalations and handle the ones they raised.
PLAIN_TABLES = (
    "assignment",
    "project",
    "channel_link",
    "role",
    "role_alias",
    "responsibility",
    "responsibility_alias",
)
ESCALATION_ACTIONS = (
    "escalate",
    "escalation_acknowledged",
    "escalation_resolved",
    "reopen",
)
# The tables every change writes an audit entry beside.
AUDITED_TABLES = ("assignment", "project", "channel_link", "escalation")

Rows = list[tuple[Any, ...]]


async def _rows(database: Database, query: str, **params: Any) -> Rows:
    async with database.engine.connect() as conn:
        result = await conn.exec_driver_sql(query, params if params else None)
        return [tuple(row) for row in result.all()]


async def snapshot(database: Database, member: str) -> dict[str, Rows]:
    """Everything a command by `member` may not change, read through the store's engine."""
    state = {
        table: await _rows(database, f"SELECT * FROM {table} ORDER BY id") for table in PLAIN_TABLES
    }
    # The workspace row without its escalation counter (a member's own escalation moves that).
    state["workspace"] = await _rows(
        database,
        "SELECT id, platform, external_id, name, catalog_version, escalation_chain "
        "FROM workspace ORDER BY id",
    )
    state["escalation"] = await _rows(
        database,
        "SELECT e.* FROM escalation e JOIN person p ON p.id = e.raised_by_id "
        "WHERE p.platform_user_id != :member ORDER BY e.id",
        member=member,
    )
    actions = ", ".join(f"'{a}'" for a in ESCALATION_ACTIONS)
    state["audit_entry"] = await _rows(
        database,
        "SELECT a.* FROM audit_entry a LEFT JOIN person p ON p.id = a.actor_id "
        f"WHERE NOT (COALESCE(p.platform_user_id, '') = :member AND a.action IN ({actions})) "
        "ORDER BY a.id",
        member=member,
    )
    return state


async def audited_state(database: Database) -> tuple[dict[str, Rows], int]:
    """The rows of the tables every change is audited beside, and the number of audit entries."""
    contents = {t: await _rows(database, f"SELECT * FROM {t} ORDER BY id") for t in AUDITED_TABLES}
    return contents, (await _rows(database, "SELECT COUNT(*) FROM audit_entry"))[0][0]


# SQLite stores any string; PostgreSQL refuses NUL characters and strings longer than a VARCHAR.
STRING_COLUMNS = {
    table.name: [(c.name, c.type.length) for c in table.columns if isinstance(c.type, String)]
    for table in Base.metadata.sorted_tables
}


async def postgres_would_refuse(database: Database) -> list[str]:
    """Stored strings that PostgreSQL would have refused: there, the message would have crashed."""
    problems = []
    for table, columns in STRING_COLUMNS.items():
        if not columns:
            continue
        names = ", ".join(name for name, _ in columns)
        for row in await _rows(database, f"SELECT {names} FROM {table}"):
            for (name, limit), value in zip(columns, row, strict=True):
                if isinstance(value, str) and ("\x00" in value or (limit and len(value) > limit)):
                    problems.append(f"{table}.{name}: {len(value)} characters, {value[:30]!r}…")
    return problems


def assert_sane_reply(reply: Reply) -> None:
    assert isinstance(reply, Reply)
    assert reply.text.strip(), f"an empty reply for intent {reply.intent}"
    assert reply.intent in INTENTS, reply.intent


# --------------------------------------------------------------------------------------------
# Messages


TRICKY_TEXT = [
    "",
    " ",
    "\t\n",
    "@",
    "@@",
    "@ ",
    "@a@b",
    "who is @",
    "@" + "x" * 300,
    "'; DROP TABLE role; --",
    "%",
    "_",
    "\\",
    "%_\\'\"",
    "\x00",
    "a\x00b",
    "\u200f\u202eowner\u202c",
    "\u200e",
    "\ufeff",
    "\u2028\u2029\x85",
    "👩‍💻🔥",
    "İı ß ﬀ",
    "#",
    "#0",
    "#-1",
    "#99999999999999999999",
    "because",
    ":",
    "–",
    "?",
    "...",
    "“quoted”",
    "’",
]

MENTION_IDS = [
    "alice",
    "bob",
    "carol",
    "dave",
    MEMBER,
    "U_ADMIN",
    "root",
    "",
    "@",
    "a@b",
    "a.b-c:d",
    "alice.",
    ":",
    "-",
    "ünïcødé",
    "x" * 300,
]

DATES = [
    "2026-12-05",
    "2099-12-31",
    "Friday",
    "next friday",
    "tomorrow",
    "yesterday",
    "2020-01-01",
    "31/02/2026",
    "2026-13-45",
    "9999-12-31",
    "31 December 9999",
    "0001-01-01",
    "1 January 1",
    "next year",
    "99999999999",
    "never",
    "",
]

PERIODS = [
    "today",
    "yesterday",
    "this week",
    "last week",
    "this month",
    "last month",
    "this year",
    "last year",
    "on 2026-03-01",
    "on 9999-12-31",
    "in 9999-12",
    "in March",
    "since 0001-01-01",
    "since forever",
]

TEMPLATES = [
    "assign {m} as {role}",
    "assign {m} as backup {role}",
    "make {m} the {role}",
    "{m} is the new {role}",
    "{m} is now our {role}",
    "add {m} as backup {role}",
    "add {m} to {role} as backup",
    "remove {m} from {role}",
    "take {m} off {role}",
    "hand over {role} to {m}",
    "handover of {role} to {m}",
    "give {role} to {m}",
    "{m} covers {role} until {date}",
    "{m} covers for {m2} as {role} until {date}",
    "{m} will cover {role}",
    "I'm away until {date}, {m} covers",
    "i am on leave from {date} until {date}; and {m} covers for me",
    "escalate: {text}",
    "escalate to the {role}: {text}",
    "escalate to {text}: {text}",
    "escalation - {text}",
    "blocker: {text}",
    "I'm blocked on {text}",
    "we are stuck waiting for {text}",
    "ack #{n}",
    "acknowledge {n}",
    "resolve #{n} {text}",
    "close #{n}: {text}",
    "done {n}",
    "reopen #{n}",
    "history of {role}",
    "changes for the {role} role",
    "who was the {role} on {date}",
    "who were {text} at {date}",
    "who handled {text} {period}",
    "who was responsible for {text} {period}",
    "what changed {period}",
    "what changed",
    "audit log {period}",
    "create project {name}",
    "new project called {name}",
    "link this channel to project {name}",
    "link to {name}",
    "projects",
    "roles",
    "blockers",
    "my escalations",
    "help",
    "what does {m} do",
    "who is {m}",
    "{m}'s roles",
    "my roles",
    "what does the {role} do",
    "who is the {role}",
    "who handles {text}?",
    "{text}?",
]


def _case(text: str, how: int) -> str:
    return [text, text.lower(), text.upper(), text.title()][how]


role_words = st.one_of(
    st.builds(_case, st.sampled_from(ROLE_NAMES), st.integers(0, 3)),
    st.sampled_from(["scrum master", "PO", "the team lead", "nobody", "Tester role"]),
    st.sampled_from(TRICKY_TEXT),
    st.text(max_size=30),
)
fillers = st.one_of(
    st.sampled_from(TRICKY_TEXT),
    st.sampled_from(["data drift", "GPU quota", "terraform", "the vendor contract"]),
    st.text(max_size=40),
)
mentions = st.one_of(
    st.sampled_from(MENTION_IDS).map(lambda user: "@" + user),
    st.text(alphabet=string.ascii_letters + string.digits + "._-:@", max_size=20).map(
        lambda user: "@" + user
    ),
    st.text(max_size=10),
)
numbers = st.one_of(
    st.sampled_from(["1", "2", "3", "0", "999999999", "9999999999", "-1", "", "#", "1.5", "٣"]),
    st.integers(min_value=0, max_value=10**12).map(str),
)
project_names = st.one_of(
    st.sampled_from(["side-project", "default", "x" * 150, "%", "_", "a.b-c", "Δelta", "-x"]),
    st.text(alphabet=string.ascii_letters + string.digits + ".-_", min_size=1, max_size=20),
    st.text(max_size=20),
)


@st.composite
def commands(draw: st.DrawFn) -> str:
    """Text shaped like one of the commands of the grammar, with random fillers."""
    template = draw(st.sampled_from(TEMPLATES))
    text = template.format(
        m=draw(mentions),
        m2=draw(mentions),
        role=draw(role_words),
        text=draw(fillers),
        date=draw(st.one_of(st.sampled_from(DATES), st.text(max_size=15))),
        period=draw(st.sampled_from(PERIODS)),
        n=draw(numbers),
        name=draw(project_names),
    )
    if draw(st.booleans()):
        text += draw(st.sampled_from([" because ", ", because ", "; reason: ", " because"]))
        text += draw(fillers)
    if draw(st.booleans()):
        text = draw(st.sampled_from(["", " ", "  ", "\t"])) + text
        text += draw(st.sampled_from(["", "?", "!", ".", " ?!", "\n"]))
    return text


huge_messages = st.builds(
    lambda prefix, chunk: (prefix + chunk * (40_000 // len(chunk) + 1))[:40_000],
    st.sampled_from(
        [
            "",
            "escalate: ",
            "who handles ",
            "assign @bob as ",
            "@bob covers Tester until ",
            "history of ",
            "resolve #1 ",
            "create project ",
            "who handled ",
        ]
    ),
    st.one_of(
        st.sampled_from(["data drift ", "a", "@", "x" * 7 + " ", "\x00"]), st.text(min_size=1)
    ),
)

# Escalations #1–#3 exist (open, acknowledged, resolved), so these often have something to change.
escalation_commands = st.builds(
    "{} #{}{}".format,
    st.sampled_from(["ack", "acknowledge", "resolve", "close", "done", "reopen"]),
    st.integers(1, 5),
    st.sampled_from(["", " fixed", ": a note", " - \x00"]),
)

messages = st.one_of(
    st.text(),
    st.sampled_from(TRICKY_TEXT),
    commands(),
    commands(),
    commands(),
    escalation_commands,
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=20), commands(), st.text(max_size=20)),
    huge_messages,
)


# --------------------------------------------------------------------------------------------
# 1. The message path


conversations = st.lists(messages, min_size=1, max_size=3)
channels = st.sampled_from([None, "C1", LINKED_CHANNEL])


@settings(max_examples=STORE_EXAMPLES, deadline=None)
@given(texts=conversations, channel=channels)
# Found (handlers/dates.py end_of): a date at the end of the calendar overflowed.
@example(texts=["@bob covers Tester until 9999-12-31"], channel=None)
@example(texts=["who was the Tester on 9999-12-31"], channel=None)
# Found (handlers/intents/cover.py handle_role_cover): the pattern without "until" has no `until`
# group, and the handler reads groups["until"]. KeyError: 'until'.
@example(texts=["@bob covers Scrum Master"], channel=None)
# Found (PostgreSQL only): a 300-character mention is stored in person.platform_user_id, a
# VARCHAR(200); NUL characters reach TEXT columns. PostgreSQL refuses both and the message crashes.
@example(texts=["assign @" + "x" * 300 + " as Tester"], channel=None)
@example(texts=["escalate: blocked\x00 on GPU quota"], channel=None)
def test_admin_messages_always_get_a_reply(
    store: Store, texts: list[str], channel: str | None
) -> None:
    """The operator (an admin) may do anything. Whatever the text: a reply, every change audited,
    and nothing stored that PostgreSQL would refuse (it would crash the message there)."""
    store.reset()
    for text in texts:
        contents, audits = store.run(audited_state(store.database))
        reply = store.say(text, channel=channel)
        assert_sane_reply(reply)
        after, audits_after = store.run(audited_state(store.database))
        if after != contents:
            assert audits_after > audits, f"{text!r} changed the store without an audit entry"
        refused = store.run(postgres_would_refuse(store.database))
        assert not refused, f"{text!r} stored what PostgreSQL refuses: {refused}"


@settings(max_examples=STORE_EXAMPLES, deadline=None)
@given(
    texts=conversations,
    channel=channels,
    project=st.one_of(
        st.none(),
        st.sampled_from(["default", "side-project", "missing", "%", "_"]),
        st.text(max_size=8),
    ),
)
def test_member_messages_never_change_what_they_may_not(
    store: Store, texts: list[str], channel: str | None, project: str | None
) -> None:
    """A member who holds no role and is no admin gets a reply, and changes nothing but their own
    escalations: no assignment, project, channel link, catalogue entry, or someone else's escalation."""
    store.reset()
    before = store.run(snapshot(store.database, MEMBER))
    for text in texts:
        reply = store.say(text, user=MEMBER, project=project, channel=channel)
        assert_sane_reply(reply)
        after = store.run(snapshot(store.database, MEMBER))
        for table, rows in before.items():
            assert after[table] == rows, (
                f"{text!r} ({reply.intent}: {reply.text!r}) changed {table}"
            )


# --------------------------------------------------------------------------------------------
# 2. The importers


def fold(value: str) -> str:
    return " ".join(value.split())


def _is_clean(value: str) -> bool:
    """Non-empty, its white space folded to single spaces, as the importers read names and texts."""
    return bool(value) and value == fold(value)


def assert_valid_catalogue(spec: CatalogueSpec) -> None:
    assert spec.roles, "a catalogue without roles"
    names = [role.name.casefold() for role in spec.roles]
    assert len(names) == len(set(names)), f"duplicate role names: {names}"
    for role in spec.roles:
        assert _is_clean(role.name), role
        assert all(_is_clean(a) for a in role.aliases), role
        for responsibility in role.responsibilities:
            assert _is_clean(responsibility.text), role
            assert all(_is_clean(k) for k in responsibility.keywords), role
    assert spec.escalation_chain and all(_is_clean(r) for r in spec.escalation_chain)


def assert_valid_team(team: TeamFile) -> None:
    assert_valid_catalogue(team.catalogue)
    known = {role.name.casefold() for role in team.catalogue.roles}
    for a in team.assignments:
        assert a.role.casefold() in known, a
        assert _is_clean(a.user) and not a.user.startswith("@"), a
        assert _is_clean(a.project), a
        assert a.name is None or _is_clean(a.name), a
        assert a.kind in KINDS, a
        assert a.until is None or a.until.tzinfo is not None, a
        assert a.kind != "cover" or a.until is not None, a


def assert_names_a_line(error: CatalogueError, text: str) -> None:
    """The message names the line (within the input) whenever the input has any content.

    "No roles at all" is about the whole document, so it may name none.
    """
    lines = text.splitlines()
    if error.line is not None:
        assert f"line {error.line}" in str(error), str(error)
        assert 1 <= error.line <= len(lines) + 1, (error.line, len(lines), str(error))
    elif text.strip() and "no roles" not in str(error):
        raise AssertionError(f"{str(error)!r} names no line of a {len(lines)}-line input")


def parse_markdown_or_error(text: str) -> CatalogueSpec | CatalogueError:
    try:
        return parse_roles_markdown(text)
    except CatalogueError as error:
        return error


def parse_team_or_error(text: str) -> TeamFile | CatalogueError:
    try:
        return parse_team_file(text)
    except CatalogueError as error:
        return error


# Markdown documents: bold bullets for roles, nested bullets for responsibilities, and the things
# around them (front matter, headings, prose, wrapped lines), all with random indentation.
indents = st.one_of(
    st.sampled_from(["", " ", "  ", "    ", "\t", "\t\t", " \t", "        "]),
    st.text(alphabet=" \t", max_size=9),
)
inline_text = st.one_of(
    st.sampled_from(["Data Scientist", "Feature engineering", "Tester", "", " ", "**", "__", ":"]),
    st.text(max_size=25).map(lambda s: s.replace("\n", " ").replace("\r", " ")),
)


@st.composite
def markdown_lines(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            ["role", "role", "item", "item", "item", "wrap", "prose", "heading", "blank"]
        )
    )
    indent = draw(indents)
    bullet = draw(st.sampled_from(["*", "-", "+"])) + draw(st.sampled_from([" ", "  ", "\t"]))
    if kind == "role":
        bold = draw(st.sampled_from(["**", "__"]))
        colon = draw(st.sampled_from(["", ":", " :", ":**"]))
        rest = draw(st.sampled_from(["", " the people who", " " + draw(inline_text)]))
        return f"{indent}{bullet}{bold}{draw(inline_text)}{colon}{bold}{rest}"
    if kind == "item":
        return f"{indent}{bullet}{draw(inline_text)}"
    if kind == "wrap":
        return f"{indent}{draw(inline_text)}"
    if kind == "prose":
        return draw(inline_text)
    if kind == "heading":
        return "#" * draw(st.integers(1, 3)) + " " + draw(inline_text)
    return ""


markdown_documents = st.builds(
    lambda front, body, newline: newline.join(front + body),
    st.sampled_from([[], ["---", "title: roles", "---"], ["---"]]),
    st.lists(markdown_lines(), max_size=25),
    st.sampled_from(["\n", "\r\n"]),
)

TEAM_KEYS = [
    "catalogue",
    "roles",
    "name",
    "responsibilities",
    "text",
    "keywords",
    "aliases",
    "escalation_chain",
    "assignments",
    "role",
    "user",
    "kind",
    "until",
    "project",
    "__line__",
]
yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=15),
    st.sampled_from(
        ["cover", "primary", "Tester", "@", " ", "2026-01-01", "2026-01-01T10:00:00+02:00"]
    ),
    st.datetimes(),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(TEAM_KEYS), children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def team_shaped_data(draw: st.DrawFn) -> Any:
    """Data shaped like a team file, with any node possibly replaced by something else."""

    def maybe(value: Any) -> Any:
        return draw(yaml_values) if draw(st.integers(0, 9)) == 0 else value

    roles = []
    for _ in range(draw(st.integers(0, 4))):
        role: dict[str, Any] = {"name": maybe(draw(inline_text))}
        if draw(st.booleans()):
            role["aliases"] = maybe(
                [maybe(draw(inline_text)) for _ in range(draw(st.integers(0, 2)))]
            )
        role["responsibilities"] = maybe(
            [
                maybe({"text": maybe(draw(inline_text)), "keywords": maybe([draw(inline_text)])})
                for _ in range(draw(st.integers(0, 3)))
            ]
        )
        roles.append(maybe(role))
    assignments = [
        maybe(
            {
                "project": maybe(draw(st.sampled_from(["default", "", " ", "p"]))),
                "role": maybe(draw(st.sampled_from([*ROLE_NAMES[:2], "Tester", ""]))),
                "user": maybe(draw(st.sampled_from(["alice", "@bob", "@", " ", ""]))),
                "kind": maybe(draw(st.sampled_from([*KINDS, "boss", None]))),
                "until": maybe(
                    draw(st.sampled_from([None, "", "2026-12-05", "soon", "2026-02-30"]))
                ),
            }
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    catalogue = maybe({"roles": maybe(roles), "escalation_chain": maybe(["Tester"])})
    return maybe({"catalogue": catalogue, "assignments": maybe(assignments)})


yaml_documents = st.one_of(
    team_shaped_data().map(lambda data: yaml.safe_dump(data, sort_keys=False, allow_unicode=True)),
    yaml_values.map(lambda data: yaml.safe_dump(data, allow_unicode=True)),
    st.lists(
        st.sampled_from(
            [
                "catalogue:",
                "  roles:",
                "  - name: Tester",
                "    responsibilities: [a, b]",
                "    responsibilities: 5",
                "    responsibilities: {text: a}",
                "    responsibilities:",
                "    - text: ''",
                "    - text: '  '",
                "    - {text: x, keywords: [';', ' ']}",
                "    - 2001-13-45",
                "  escalation_chain: [Tester]",
                "assignments:",
                "- {role: Tester, user: '@'}",
                "- {role: Tester, user: alice, project: ' '}",
                "- {role: Tester, user: bob, kind: cover, until: 2026-02-30}",
                "- plain string",
                "- [nested]",
                "&a [x]",
                "*a",
                "<<: *a",
                "!!binary x",
                "!!python/object:os.system {}",
                "? [complex, key]",
                "'unterminated",
                "\t tab",
                "---",
                "...",
                "%YAML 1.1",
            ]
        ),
        max_size=12,
    ).map("\n".join),
)

CSV_HEADER = "record,project,role,text,keywords,user,name,kind,until"
csv_fields = st.one_of(
    st.sampled_from(
        ["", " ", "role", "responsibility", "assignment", "escalation_chain", "Tester"]
    ),
    st.sampled_from(["a;b", ";", '"quoted"', '"', "x,y", "primary", "cover", "@", "2026-01-01"]),
    st.text(max_size=12),
)
csv_rows = st.lists(csv_fields, min_size=0, max_size=11).map(
    lambda fields: ",".join(f'"{f}"' if "," in f and '"' not in f else f for f in fields)
)
csv_documents = st.builds(
    lambda header, rows, newline: newline.join([header, *rows]),
    st.one_of(
        st.just(CSV_HEADER),
        st.just("\ufeff" + CSV_HEADER),
        st.sampled_from(["record,", "record,project", CSV_HEADER + ",extra", CSV_HEADER.upper()]),
    ),
    st.lists(
        st.one_of(
            csv_rows,
            st.sampled_from(
                [
                    "role,,Tester,,qa;test engineer,,,,",
                    "responsibility,,Tester,Integration testing,uat,,,,",
                    "responsibility,,Tester,,uat,,,,",
                    "assignment,default,Tester,,,alice,Alice,primary,",
                    "assignment,,Tester,,,@,,,",
                    "assignment, ,Tester,,,bob,,cover,2026-02-30",
                    "escalation_chain,,,Scrum Master;Project Manager,,,,,",
                    'role,,"Tester',
                    "role,,Tester",
                ]
            ),
        ),
        max_size=10,
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
)

importer_inputs = st.one_of(st.text(), markdown_documents, yaml_documents, csv_documents)


@settings(max_examples=PARSER_EXAMPLES)
@given(text=st.one_of(importer_inputs, markdown_documents, markdown_documents))
def test_markdown_import_gives_a_catalogue_or_a_catalogue_error(text: str) -> None:
    result = parse_markdown_or_error(text)
    if isinstance(result, CatalogueError):
        return
    assert_valid_catalogue(result)
    assert all(role.responsibilities for role in result.roles)
    assert all("\n" not in r.text for role in result.roles for r in role.responsibilities)


TESTER = "catalogue:\n  roles:\n  - name: Tester\n"
CSV_TESTER = f"{CSV_HEADER}\nrole,,Tester,,,,,,\n"


@settings(max_examples=PARSER_EXAMPLES)
@given(text=st.one_of(importer_inputs, yaml_documents, csv_documents))
# Found (seed/catalogue.py load_yaml): PyYAML reads 2001-13-45 as a timestamp and its constructor
# raises ValueError ("month must be in 1..12"; "0000-00-00": "year 0 is out of range").
@example(text="2001-13-45")
# Found (seed/catalogue.py catalogue_from_data): `responsibilities` that is not a list.
# TypeError: 'int' object is not iterable.
@example(text=TESTER + "    responsibilities: 5\n")
# Found (seed/catalogue.py load_yaml): deep nesting. RecursionError.
@example(text="[" * 1000)
# Found (seed/transfer.py parse_csv): a bare carriage return in a field. _csv.Error: new-line
# character seen in unquoted field.
@example(text="record,\r0")
# Found (seed/catalogue.py catalogue_from_data): a string for `responsibilities` is read one character
# per responsibility, and a blank one is kept as an empty responsibility ("data drift" gives "d",
# "a", …, "").
@example(text=TESTER + "    responsibilities: data drift\n")
@example(text=TESTER + "    responsibilities: [' ']\n")
# Found (seed/transfer.py _assignment): user "@" becomes the empty user "" (stripped after the check),
# project " " the empty project "", name " " the empty name "".
@example(text=CSV_TESTER + "assignment,,Tester,,,@,,,\n")
# Found (seed/transfer.py _assignment): "@ bob" folds to "@ bob" and loses its "@" after that: " bob".
@example(text=TESTER + "assignments:\n- {role: Tester, user: '@ bob'}\n")
@example(text=TESTER + "assignments:\n- {role: Tester, user: alice, project: ' '}\n")
@example(text=TESTER + "assignments:\n- {role: Tester, user: alice, name: ' '}\n")
def test_team_file_import_gives_a_team_or_a_catalogue_error(text: str) -> None:
    result = parse_team_or_error(text)
    if not isinstance(result, CatalogueError):
        assert_valid_team(result)


def catalogue_errors(text: str) -> list[CatalogueError]:
    """The CatalogueErrors both importers raise for `text` (crashes are for the tests above)."""
    errors = []
    for parse in (parse_roles_markdown, parse_team_file):
        try:
            parse(text)
        except CatalogueError as error:
            errors.append(error)
        except Exception:
            continue
    return errors


@settings(max_examples=PARSER_EXAMPLES)
@given(text=importer_inputs)
# Found (seed/catalogue.py load_yaml): a character YAML does not allow is a yaml.ReaderError, which is
# not a MarkedYAMLError, so the error names no line ("… position 0").
@example(text="\x1b")
# Found (seed/catalogue.py catalogue_from_data): an empty role item (`-`) has no line of its own.
@example(text="catalogue:\n  roles:\n  -\n")
# Found (seed/transfer.py parse_yaml): "each assignment must be a mapping" is raised with line None.
@example(text=TESTER + "assignments:\n- alice\n")
# An impossible timestamp and too deep a nesting are errors of a line too.
@example(text="catalogue:\n  roles: []\nassignments:\n- until: 2001-13-45\n")
@example(text="[" * 1000)
def test_import_errors_name_a_line(text: str) -> None:
    for error in catalogue_errors(text):
        assert_names_a_line(error, text)


# Valid teams for the round trip. Names, texts and keywords are non-empty with their white space
# folded, as the importers read them (so every catalogue in a store is). Keywords, aliases and
# escalation-chain entries contain no ';': the CSV format joins lists with ';', so such a value
# cannot survive it (a documented limit, not a bug).
clean_text = st.text(min_size=1, max_size=20).map(fold).filter(bool)
list_item = clean_text.filter(lambda s: ";" not in s)
# Fixed offsets: the file keeps an offset, not a zone. (A zoneinfo time in a repeated hour never
# compares equal to a time in another zone; that is Python's rule, not the file's.)
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(9000, 1, 1),
    timezones=st.just(UTC) | offsets,
)


@st.composite
def teams(draw: st.DrawFn) -> TeamFile:
    names = draw(st.lists(clean_text, min_size=1, max_size=4, unique_by=str.casefold))
    roles = tuple(
        RoleSpec(
            name,
            tuple(
                ResponsibilitySpec(draw(clean_text), tuple(draw(st.lists(list_item, max_size=3))))
                for _ in range(draw(st.integers(0, 3)))
            ),
            tuple(draw(st.lists(list_item, max_size=2))),
        )
        for name in names
    )
    chain = tuple(draw(st.lists(list_item, min_size=1, max_size=3)))
    assignments = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(KINDS))
        until = draw(moments if kind == "cover" else st.none() | moments)
        assignments.append(
            AssignmentSpec(
                project=draw(clean_text),
                role=draw(st.sampled_from(names)),
                user=draw(clean_text.filter(lambda s: not s.startswith("@"))),
                name=draw(st.none() | clean_text),
                kind=kind,
                until=until,
            )
        )
    return TeamFile(CatalogueSpec(roles, chain), tuple(assignments))


def without_lines(team: TeamFile) -> TeamFile:
    return dataclasses.replace(
        team, assignments=tuple(dataclasses.replace(a, line=None) for a in team.assignments)
    )


# A role named "@": the "@" a user may be written with is not stripped from a role's name.
AT_ROLE = TeamFile(
    CatalogueSpec(roles=(RoleSpec(name="@", responsibilities=()),), escalation_chain=("0",)),
    (AssignmentSpec(project="0", role="@", user="0"),),
)


@settings(max_examples=PARSER_EXAMPLES)
@given(team=teams())
@example(team=AT_ROLE)
def test_team_file_round_trips_through_yaml(team: TeamFile) -> None:
    assert without_lines(parse_team_file(to_yaml(team))) == team


@settings(max_examples=PARSER_EXAMPLES)
@given(team=teams())
@example(team=AT_ROLE)
def test_team_file_round_trips_through_csv(team: TeamFile) -> None:
    assert without_lines(parse_team_file(to_csv(team))) == team


# --------------------------------------------------------------------------------------------
# 3. The matcher

MATCHER = Matcher(catalog_entries(catalog_from_spec(DEFAULT)), examples=shipped_model())
CATALOGUE_WORDS = sorted(
    {
        word
        for role in DEFAULT.roles
        for phrase in (role.name, *role.aliases, *(r.text for r in role.responsibilities))
        for word in phrase.split()
    }
)

questions = st.one_of(
    st.text(),
    st.sampled_from(TRICKY_TEXT),
    st.lists(
        st.one_of(
            st.sampled_from(CATALOGUE_WORDS),
            st.sampled_from(["who", "handles", "is", "the", "what", "does", "?", "owns", "cost"]),
            st.text(max_size=8),
        ),
        max_size=12,
    ).map(" ".join),
    commands(),
    huge_messages,
)


@settings(max_examples=FAST_EXAMPLES, deadline=None)
@given(text=questions)
# A close call the example model settles on a choice that scored lower than another.
@example(text="0:COS0:WHO:DA0A:AN0LYIS")
def test_matcher_candidates_are_distinct_roles_best_first(text: str) -> None:
    match = MATCHER.match(text)
    candidates = match.candidates
    assert len(candidates) <= 3
    roles = [c.target.role_id for c in candidates]
    assert len(roles) == len(set(roles)), candidates
    assert all(0.0 <= c.score <= 1.0 for c in candidates), candidates
    scores = [c.score for c in candidates]
    assert scores == sorted(scores, reverse=True), candidates
    if match.outcome == Outcome.ANSWER:
        assert match.best is not None
    if match.outcome == Outcome.CLARIFY:
        assert candidates, "a question back without anything to choose"


# --------------------------------------------------------------------------------------------
# 4. The Slack and Teams text normalisers

SLACK_BOT = "UBOT"
slack_ids = st.one_of(
    st.sampled_from(["U1", "U2", "W3", SLACK_BOT, "U0123ABCD"]),
    st.text(alphabet="UW", min_size=1, max_size=1).flatmap(
        lambda first: st.text(
            alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=10
        ).map(lambda rest: first + rest)
    ),
)
slack_labels = st.one_of(st.just(""), st.text(max_size=10))


@st.composite
def slack_tokens(draw: st.DrawFn, escape: bool) -> str:
    """One piece of Slack message markup; with `escape`, free text as Slack sends it (&, <, > escaped)."""

    def free(text: str) -> str:
        return html.escape(text, quote=False) if escape else text

    label = free(draw(slack_labels))
    token = draw(
        st.sampled_from(["user", "user_named", "channel", "link", "special", "text", "text"])
    )
    if token == "user":
        return f"<@{draw(slack_ids)}>"
    if token == "user_named":
        return f"<@{draw(slack_ids)}|{label}>"
    if token == "channel":
        return f"<#C{draw(st.integers(0, 999))}|{label}>"
    if token == "link":
        return f"<https://example.com/{draw(st.integers(0, 9))}" + (f"|{label}>" if label else ">")
    if token == "special":
        return f"<!{draw(st.sampled_from(['here', 'channel', 'everyone', 'subteam^S1|@team']))}>"
    return free(draw(st.one_of(st.text(max_size=20), st.sampled_from(TRICKY_TEXT))))


def slack_texts(*, escape: bool) -> st.SearchStrategy[str]:
    separators = st.sampled_from(["", " ", "  ", "\n", ", "])
    return st.lists(st.tuples(slack_tokens(escape), separators), max_size=8).map(
        lambda parts: "".join(token + sep for token, sep in parts)
    )


def assert_mentions_in_text(text: str, found: tuple[Any, ...], bot_id: str | None) -> None:
    ids = [m.user_id for m in found]
    assert len(ids) == len(set(ids)), found
    assert bot_id is None or bot_id not in ids, found
    for user_id in ids:
        assert f"@{user_id}" in text, (user_id, text)


@settings(max_examples=FAST_EXAMPLES)
@given(text=st.one_of(st.text(), slack_texts(escape=False)), bot=st.sampled_from([SLACK_BOT, None]))
def test_slack_normalise_never_raises(text: str, bot: str | None) -> None:
    # Unescaped markup can nest a mention inside a link (`<http://<@U1>|x>`), which Slack never
    # sends, so only the realistic text below checks that each mention survives into the text.
    clean, found = slack_normalise(text, bot)
    assert clean == " ".join(clean.split())
    ids = [m.user_id for m in found]
    assert len(ids) == len(set(ids)) and (bot is None or bot not in ids), found
    assert all(re.fullmatch(r"[UW][A-Z0-9]+", user_id) for user_id in ids), found


@settings(max_examples=FAST_EXAMPLES)
@given(text=slack_texts(escape=True), bot=st.sampled_from([SLACK_BOT, None]))
def test_slack_mentions_appear_in_the_text(text: str, bot: str | None) -> None:
    clean, found = slack_normalise(text, bot)
    assert_mentions_in_text(clean, found, bot)


TEAMS_BOT_ID = "28:bot"
TEAMS_BOT_NAME = "whoowns"
teams_ids = st.one_of(
    st.sampled_from(["29:alice", "29:bob", "29:1a2B-c_D", TEAMS_BOT_ID]),
    st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=12).map(
        lambda s: "29:" + s
    ),
)
teams_names = st.one_of(
    st.sampled_from(["Alice", "Bob", "Bob Smith", "Ünï Cödé", "O'Brien & Co", TEAMS_BOT_NAME]),
    st.text(min_size=1, max_size=12).filter(lambda s: "<" not in s and ">" not in s),
)


def teams_activity(text: str | None, entities: list[Any], recipient: bool = True) -> Activity:
    """An activity as botbuilder deserializes the JSON Teams posts (see tests/fakes/botframework.py)."""
    payload: dict[str, Any] = {"type": "message", "text": text, "entities": entities}
    if recipient:
        payload["recipient"] = {"id": TEAMS_BOT_ID, "name": TEAMS_BOT_NAME}
    return Activity().deserialize(payload)


def mention_entity(user_id: str, name: str) -> dict[str, Any]:
    return {
        "type": "mention",
        "mentioned": {"id": user_id, "name": name},
        "text": f"<at>{name}</at>",
    }


@st.composite
def teams_messages(draw: st.DrawFn) -> tuple[str, list[Any]]:
    """Text with `<at>Name</at>` mentions and one mention entity for each, as Teams sends them."""
    text = ""
    entities: list[Any] = []
    if draw(st.booleans()):  # a channel message starts by mentioning the bot
        text = f"<at>{TEAMS_BOT_NAME}</at> "
        entities.append(mention_entity(TEAMS_BOT_ID, TEAMS_BOT_NAME))
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            user_id = draw(teams_ids)
            name = TEAMS_BOT_NAME if user_id == TEAMS_BOT_ID else draw(teams_names)
            text += f"<at>{name}</at>"
            entities.append(mention_entity(user_id, name))
        else:
            text += draw(
                st.one_of(
                    st.text(max_size=15),
                    st.sampled_from(
                        [
                            "<p>",
                            "</p>",
                            "<br>",
                            "&nbsp;",
                            " ",
                            "\n",
                            "<b>x</b>",
                            "<at>",
                            " < ",
                            " > ",
                        ]
                    ),
                )
            )
    entities.append({"type": "clientInfo", "locale": "en-US"})
    return text, draw(st.permutations(entities))


@settings(max_examples=FAST_EXAMPLES)
@given(message=teams_messages())
# Found (bot/teams/adapter.py normalise): the bot's own mention is replaced everywhere (count -1), so
# a person whose display name is the bot's loses their mention: "who is" instead of "who is @29:x".
@example(
    message=(
        f"<at>{TEAMS_BOT_NAME}</at> who is <at>{TEAMS_BOT_NAME}</at>",
        [mention_entity(TEAMS_BOT_ID, TEAMS_BOT_NAME), mention_entity("29:x", TEAMS_BOT_NAME)],
    )
)
# Found (bot/teams/adapter.py normalise): tags are stripped after mentions became "@<id>", so a "<"
# before a mention and a ">" after it (plain text, as the fake connector sends it) swallow it.
@example(message=("3 < <at>Alice</at> > 2", [mention_entity("29:alice", "Alice")]))
def test_teams_mentions_appear_in_the_text(message: tuple[str, list[Any]]) -> None:
    text, entities = message
    clean, found = teams_normalise(teams_activity(text, entities))
    assert clean == " ".join(clean.split())
    assert_mentions_in_text(clean, found, TEAMS_BOT_ID)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "name", "text", "type"]), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=FAST_EXAMPLES)
@given(
    text=st.one_of(st.none(), st.text(), teams_messages().map(lambda m: m[0])),
    entities=st.lists(
        st.one_of(
            st.builds(mention_entity, st.text(max_size=10), st.text(max_size=10)),
            st.fixed_dictionaries(
                {"type": st.sampled_from(["mention", "clientInfo", ""])},
                optional={"mentioned": json_values, "text": json_values},
            ),
        ),
        max_size=4,
    ),
    recipient=st.booleans(),
)
# Found (bot/teams/adapter.py _mentions): a mention entity whose `mentioned` is not an object.
# AttributeError: 'str' object has no attribute 'get'.
@example(text="hi", entities=[{"type": "mention", "mentioned": "0"}], recipient=True)
def test_teams_normalise_never_raises(
    text: str | None, entities: list[Any], recipient: bool
) -> None:
    clean, found = teams_normalise(teams_activity(text, entities, recipient))
    assert clean == " ".join(clean.split())
    ids = [m.user_id for m in found]
    assert len(ids) == len(set(ids)), found
