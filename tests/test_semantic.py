"""The meaning stage: the packaged embedding model, vectors kept once per text, and what it adds to
the words on a catalogue nobody tuned for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from handlers.dispatch import Dispatcher
from handlers.matching import semantic
from handlers.matching.examples import shipped_model
from handlers.matching.matcher import Matcher, Outcome, phrase_acronyms, role_acronyms
from handlers.matching.registry import (
    MatcherRegistry,
    WorkspaceIndex,
    catalog_entries,
    catalog_from_spec,
    default_role_ids,
    list_items,
)
from handlers.matching.semantic import (
    MiniLM,
    PhraseVectors,
    QueryAdapter,
    SemanticIndex,
    Vectors,
    shipped_vectors,
)
from handlers.matching.text import MessageForm, message_form
from handlers.message import Choice
from handlers.turn import Services
from seed.catalogue import CatalogueSpec, ResponsibilitySpec, RoleSpec, default_catalogue
from seed.markdown import parse_roles_markdown
from store import catalogue_changes, workspaces
from store.db import Database
from store.models import PhraseVector
from store.vectors import load_vectors
from tests.helpers import say

TEAM = CatalogueSpec(
    (
        RoleSpec(
            "Incident Commander",
            (
                ResponsibilitySpec("Run incident calls and write postmortems"),
                ResponsibilitySpec("Own the on-call rota for the platform"),
            ),
        ),
        RoleSpec(
            "Release Manager",
            (
                ResponsibilitySpec("Cut the release branch every second Tuesday"),
                ResponsibilitySpec("Keep the release calendar"),
            ),
        ),
        RoleSpec(
            "Security Champion",
            (
                ResponsibilitySpec("Triage dependency vulnerabilities"),
                ResponsibilitySpec("Threat modelling for new features"),
            ),
        ),
    )
)


class CountingEncoder:
    """The real model, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        self.model = MiniLM()
        self.name = self.model.name
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.texts.extend(texts)
        return self.model.encode(texts)


def test_the_model_gives_unit_vectors_that_rank_meaning() -> None:
    model = shipped_vectors().encoder
    vectors = model.encode(
        [
            "who writes the postmortem after an outage?",
            "Run incident calls and write postmortems",
            "where can I park my bike?",
        ]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert np.allclose(model.encode(["a text"]), model.encode(["a text"]))  # deterministic


def test_the_team_catalogue_is_matched_by_meaning() -> None:
    matcher = Matcher(catalog_entries(catalog_from_spec(TEAM)), vectors=shipped_vectors())
    asked = matcher.match("who writes up the postmortem after an outage?")
    assert asked.outcome == Outcome.ANSWER
    assert asked.best is not None and asked.best.target.role == "Incident Commander"
    cve = matcher.match("who checks our dependencies for known security holes?")
    assert cve.best is not None and cve.best.target.role == "Security Champion"
    # A statement is never answered, however close its meaning.
    said = matcher.match("the release branch was cut late again")
    assert said.outcome != Outcome.ANSWER
    off_topic = matcher.match("where can I park my bike?")
    assert off_topic.outcome == Outcome.UNKNOWN


def test_words_alone_decide_without_a_model() -> None:
    matcher = Matcher(catalog_entries(catalog_from_spec(TEAM)))
    assert matcher.meaning("who writes the postmortem?") == ()


def test_the_example_questions_help_only_the_default_roles() -> None:
    default = catalog_from_spec(default_catalogue())
    assert len(default_role_ids(default)) == len(default.roles)
    reshaped = catalog_from_spec(
        CatalogueSpec(
            (
                # Named like a default role, but reshaped by the team: the examples say nothing of it.
                RoleSpec("Data Scientist", (ResponsibilitySpec("Owns the feature store"),)),
                *TEAM.roles,
            )
        )
    )
    assert default_role_ids(reshaped) == frozenset()


async def _index_with(db: Database, encoder: CountingEncoder, workspace_id: int) -> Matcher:
    registry = MatcherRegistry(db, vectors=PhraseVectors(encoder))
    return (await registry.index(workspace_id)).matcher


async def test_phrase_vectors_are_embedded_once_and_kept_in_the_store(database: Database) -> None:
    workspace = await workspaces.ensure_workspace(database, "console", "team", "Team")
    await catalogue_changes.replace_catalogue(database, workspace.id, TEAM)
    first = CountingEncoder()
    await _index_with(database, first, workspace.id)
    phrases = {"Run incident calls and write postmortems", "Release Manager"}
    assert phrases <= set(first.texts)
    async with database.reading() as session:
        kept = await session.scalar(select(func.count()).select_from(PhraseVector))
    assert kept == len(set(first.texts))
    # Another replica, or the next start: nothing to embed.
    second = CountingEncoder()
    matcher = await _index_with(database, second, workspace.id)
    assert second.texts == []
    assert matcher.match("who writes the postmortem after an outage?").outcome == Outcome.ANSWER
    # A new responsibility is the only phrase embedded again.
    await catalogue_changes.replace_catalogue(
        database,
        workspace.id,
        CatalogueSpec(
            (
                *TEAM.roles[:2],
                RoleSpec(
                    "Security Champion",
                    (*TEAM.roles[2].responsibilities, ResponsibilitySpec("Pen test scheduling")),
                ),
            )
        ),
    )
    third = CountingEncoder()
    await _index_with(database, third, workspace.id)
    assert third.texts == ["Pen test scheduling"]
    found = await load_vectors(database, first.name, ["Pen test scheduling", "never seen"])
    assert set(found) == {"Pen test scheduling"}


async def test_a_picked_choice_answers_the_same_and_a_close_question_in_that_workspace_only(
    database: Database, services: Services
) -> None:
    dispatcher = Dispatcher(services)
    team = await workspaces.ensure_workspace(database, "console", "console", "Console")
    await catalogue_changes.replace_catalogue(database, team.id, TEAM)
    question = "who sorts out the freeze before we ship?"
    first = await say(dispatcher, question)
    assert first.outcome != "answer"
    release = next(
        r
        for r in (await services.matchers.index(team.id)).catalog.roles
        if r.name == "Release Manager"
    )
    calendar = release.responsibilities[1]
    picked = await say(dispatcher, question, choice=Choice(release.id, calendar.id, question))
    assert picked.role == "Release Manager"
    again = await say(dispatcher, question)
    assert again.outcome == "answer" and again.role == "Release Manager"
    close = await say(dispatcher, "who sorts the freeze out before we ship")
    assert close.outcome == "answer" and close.role == "Release Manager"
    other = await workspaces.ensure_workspace(database, "slack", "T_OTHER", "Other")
    await catalogue_changes.replace_catalogue(database, other.id, TEAM)
    index = await services.matchers.index(other.id)
    assert index.matcher.match(question).outcome != Outcome.ANSWER


def test_a_listed_responsibility_is_matched_item_by_item() -> None:
    assert list_items("IT budget, headcount and hiring for the team") == (
        "IT budget",
        "headcount",
        "hiring for the team",
    )
    assert list_items("Chair the weekly Change Advisory Board (CAB)") == (
        "Chair the weekly Change Advisory Board",
        "CAB",
    )
    assert list_items("Office Wi-Fi") == ("Office WiFi",)
    assert list_items("Wi-Fi and the guest network") == (
        "WiFi",
        "the guest network",
        "WiFi and the guest network",
    )
    assert list_items("Keep the release calendar") == ()
    # What brackets list is one item: what the schema records, not three things owned alone.
    assert list_items("Image metadata schema (line, SKU, camera ID)") == (
        "Image metadata schema",
        "line, SKU, camera ID",
    )
    ops = CatalogueSpec(
        (
            RoleSpec(
                "IT Operations Manager",
                (ResponsibilitySpec("IT budget, headcount and hiring for the team"),),
            ),
            RoleSpec(
                "Network Engineer", (ResponsibilitySpec("Office Wi-Fi and the guest network"),)
            ),
            *TEAM.roles,
        )
    )
    words_only = Matcher(catalog_entries(catalog_from_spec(ops)))
    for question, role in (
        ("who owns the IT budget?", "IT Operations Manager"),
        ("who handles headcount?", "IT Operations Manager"),
        ("who looks after the office wifi?", "Network Engineer"),
    ):
        asked = words_only.match(question)
        assert asked.outcome == Outcome.ANSWER, question
        assert asked.best is not None and asked.best.target.role == role


def test_a_word_the_team_catalogue_uses_is_its_work_not_a_workplace_matter() -> None:
    desk = CatalogueSpec(
        (
            RoleSpec("Service Desk Lead", (ResponsibilitySpec("Service desk rota"),)),
            RoleSpec("Change Manager", (ResponsibilitySpec("Chair the weekly change board"),)),
            *TEAM.roles,
        )
    )
    matcher = Matcher(catalog_entries(catalog_from_spec(desk)))
    for question, role in (
        ("who is our service desk lead?", "Service Desk Lead"),
        ("who chairs the change board?", "Change Manager"),
    ):
        asked = matcher.match(question)
        assert asked.outcome == Outcome.ANSWER, question
        assert asked.best is not None and asked.best.target.role == role
    # Where no responsibility names them, desks and chairs stay the building's.
    default = Matcher(catalog_entries(catalog_from_spec(default_catalogue())))
    assert default.match("who do I ask for a new desk chair?").outcome != Outcome.ANSWER


def test_no_default_keyword_wins_a_question_for_a_role_the_team_added() -> None:
    default = default_catalogue()
    steward = RoleSpec(
        "Model Input Steward", (ResponsibilitySpec("Model inputs, their owners and freshness"),)
    )
    catalog = catalog_from_spec(CatalogueSpec((*default.roles, steward)))
    # "model inputs" is one of the default Data Scientist's hand-written keywords, and the example
    # questions know it as the Data Scientist's.
    scientist = next(r for r in default.roles if r.name == "Data Scientist")
    assert any("model inputs" in r.keywords for r in scientist.responsibilities)
    matcher = WorkspaceIndex(catalog, examples=shipped_model()).matcher
    asked = matcher.match("who owns the model inputs?")
    assert asked.outcome == Outcome.ANSWER
    assert asked.best is not None and asked.best.target.role == "Model Input Steward"
    # The keyword still serves the default role where no team role says the same.
    alone = WorkspaceIndex(catalog_from_spec(default), examples=shipped_model()).matcher
    kept = alone.match("who owns the model inputs?")
    assert kept.best is not None and kept.best.target.role == "Data Scientist"


async def test_the_model_runs_off_the_event_loop_with_the_same_verdicts() -> None:
    matcher = Matcher(catalog_entries(catalog_from_spec(TEAM)), vectors=shipped_vectors())
    for question in (
        "who writes up the postmortem after an outage?",  # meaning answers
        "who cuts the release branch?",  # the words answer
        "the release branch was cut late again",  # a statement: choices at most
        "where can I park my bike?",
    ):
        assert await matcher.match_off_loop(question) == matcher.match(question), question


def test_initials_of_the_team_s_own_work_are_understood() -> None:
    security = CatalogueSpec(
        (
            RoleSpec(
                "Security Operations Analyst",
                (ResponsibilitySpec("Endpoint detection and response alerts"),),
            ),
            RoleSpec("Principal Investigator", (ResponsibilitySpec("Lab direction and grants"),)),
            RoleSpec("Research Engineer", (ResponsibilitySpec("CI for the research monorepo"),)),
            *TEAM.roles,
        )
    )
    acronyms = phrase_acronyms(["Endpoint detection and response alerts"], frozenset())
    assert acronyms["edr"] == "endpoint detection response"
    # A shorthand of its own ("CI") ends a run: "CRM" is not "CI research monorepo".
    assert "crm" not in phrase_acronyms(["CI for the research monorepo"], frozenset())
    matcher = Matcher(catalog_entries(catalog_from_spec(security)))
    edr = matcher.match("who handles EDR alerts?")
    assert edr.best is not None and edr.best.target.role == "Security Operations Analyst"
    assert edr.outcome == Outcome.ANSWER
    # Initials that are a word count only in capitals: "PI" is the role, "pi" the number.
    pi = matcher.match("who is our PI?")
    assert pi.outcome == Outcome.ANSWER
    assert pi.best is not None and pi.best.target.role == "Principal Investigator"
    assert "investig" not in " ".join(matcher.analyse("how many digits of pi do you know"))
    assert matcher.match("the sales team wants a new CRM, who do I talk to?").outcome != (
        Outcome.ANSWER
    )


def test_a_role_several_of_whose_responsibilities_are_near_ranks_first_in_meaning() -> None:
    vectors = shipped_vectors()
    texts = (
        "Checkpointing long training runs",
        "Resuming jobs after a node failure",
        "Training runs budget approval",
    )
    index = SemanticIndex(vectors, [(0, 1, texts[0]), (1, 1, texts[1]), (2, 2, texts[2])])
    question = vectors.question("my three-day run died and restarted from zero")
    closest = index.closeness(question)
    assert [c.role_id for c in closest] == [1, 2]
    # The cosine reported is the role's closest phrase's, which the decision levels read.
    cosines = vectors.matrix(list(texts)) @ question
    assert abs(closest[0].cosine - float(max(cosines[:2]))) < 1e-5


def test_clipped_words_and_camel_case_names_are_read_as_the_catalogue_writes_them() -> None:
    team = CatalogueSpec(
        (
            RoleSpec("Evaluation Lead", (ResponsibilitySpec("Offline reproducibility harness"),)),
            RoleSpec("Engineering Manager", (ResponsibilitySpec("PagerDuty schedules"),)),
            RoleSpec("Design System Lead", (ResponsibilitySpec("The Figma component library"),)),
            RoleSpec("Build Engineer", (ResponsibilitySpec("Android build times"),)),
            *TEAM.roles,
        )
    )
    matcher = Matcher(catalog_entries(catalog_from_spec(team)))
    for question, role in (
        ("who owns the offline repro harness?", "Evaluation Lead"),  # reproducibility
        ("who handles PD schedule swaps?", "Engineering Manager"),  # PagerDuty
        (
            "who maintains the Figma component library?",
            "Design System Lead",
        ),  # ours, not the world's
    ):
        asked = matcher.match(question)
        assert asked.outcome == Outcome.ANSWER, question
        assert asked.best is not None and asked.best.target.role == role, question
    # "lab" is a word, not the start of "labelling"; looking at a thing is not being somewhere.
    assert matcher._spelled_out("lab") is None
    assert message_form("is anyone looking at android build times?") == MessageForm.OWNERSHIP
    assert message_form("who maintains the requests library?") == MessageForm.OTHER


def test_cosines_read_in_runs_of_the_bank_equal_a_gather() -> None:
    vectors = PhraseVectors(CountingEncoder())
    vectors.embed_missing(["unrelated one", "Keep the release calendar", "unrelated two"])
    texts = ["Keep the release calendar", "Cut the release branch", "Triage vulnerabilities"]
    # The first text was embedded earlier, apart from the rest: two runs of the bank's rows.
    index = SemanticIndex(vectors, [(i, 1, text) for i, text in enumerate(texts)])
    assert len(index._runs) == 2
    question = vectors.question("who cuts the release branch?")
    gathered = index._bank.array[index._rows] @ question
    assert np.allclose(index._cosines(question), gathered)


def test_a_longer_role_name_s_last_words_are_shortened_and_the_glossary_s_plurals_kept() -> None:
    team = CatalogueSpec(
        (
            RoleSpec("Android Tech Lead", (ResponsibilitySpec("Kotlin architecture"),)),
            RoleSpec("iOS Tech Lead", (ResponsibilitySpec("Swift architecture"),)),
            RoleSpec("Relevance Evaluation Coordinator", (ResponsibilitySpec("Judgement lists"),)),
            RoleSpec("Recommendations Engineer", (ResponsibilitySpec("Cold start for new items"),)),
        )
    )
    matcher = Matcher(catalog_entries(catalog_from_spec(team)))
    lead = matcher.match("who's the android TL")
    assert lead.outcome == Outcome.ANSWER
    assert lead.best is not None and lead.best.target.role == "Android Tech Lead"
    # "recs" is the glossary's recommendations, not the plural of the coordinator's initials.
    assert "relev" not in matcher.analyse("who handles cold start in recs")
    recs = matcher.match("who is the recs engineer")
    assert recs.best is not None and recs.best.target.role == "Recommendations Engineer"
    # A part of a name never takes over the field's shorthand: "ML" is not the Mapping Lead.
    assert role_acronyms(["GIS & Mapping Lead", "Product Manager"]) == {"pm": "product manager"}


def test_where_a_request_goes_asks_who_and_a_place_needs_a_proper_name() -> None:
    for asking in (
        "where do feature requests for the support bot go?",
        "Housing want an extract. Where do I send that request?",
        "my FSDP run keeps hanging at init, who owns the distributed training setup?",
        "calls take 800ms at peak, who tunes the autoscaling?",
        "who chairs the faculty advisory committee",
    ):
        assert message_form(asking) == MessageForm.OWNERSHIP, asking
    for other in (
        "who is the product owner of Jira at Atlassian?",
        "At Google, who typically owns MLOps?",
        "how does Etsy handle counterfeit listings?",
        "where can I park my bike?",
        "who do I ask for a new chair",
    ):
        assert message_form(other) == MessageForm.OTHER, other
    # "At" what the team's own work names is here: "present at M&M" for a team that holds M&M.
    assert message_form("who presents at M&M", frozenset({"m"})) == MessageForm.OWNERSHIP


def test_a_large_catalogue_is_sketched_first_and_ranks_as_the_exact_product_does() -> None:
    # Vectors shaped like a catalogue's (a few hundred topics, each phrase near one), put in the
    # shared bank as the store's would be; the model's encoding is not what is tested here.
    rng = np.random.default_rng(3)
    topics = rng.normal(size=(300, 384))
    count = semantic.SKETCH_FROM + 500
    raw = topics[rng.integers(0, len(topics), count)] + 0.8 * rng.normal(size=(count, 384))
    unit = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float16)
    vectors = PhraseVectors(MiniLM())
    texts = [f"phrase {i}" for i in range(count)]
    vectors.remember(dict(zip(texts, unit, strict=True)))
    index = SemanticIndex(vectors, [(i, i % 700, text) for i, text in enumerate(texts)])
    exact = index.exact()  # the same index, scored by the exact product over every phrase
    assert index.sketched and not exact.sketched
    for question in unit[:40].astype(np.float32):
        assert index.closeness(question) == exact.closeness(question)


def test_a_sketched_question_is_reduced_over_its_closest_phrases_as_the_exact_product_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With every phrase a candidate the sketch finds the same closest phrases as the exact product;
    # its reduction over those alone must then rank exactly as the reduction over every phrase,
    # also where one text is listed by two roles (tied roles keep the catalogue's order).
    rng = np.random.default_rng(5)
    count = semantic.SKETCH_FROM + 100
    raw = rng.normal(size=(60, 384))[rng.integers(0, 60, count)] + rng.normal(size=(count, 384))
    unit = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float16)
    vectors = PhraseVectors(MiniLM())
    texts = [f"listed {i}" for i in range(count)]
    vectors.remember(dict(zip(texts, unit, strict=True)))
    shared = [(count + i, (i + 1) % 400, texts[i]) for i in range(0, count, 7)]
    index = SemanticIndex(vectors, [(i, i % 400, t) for i, t in enumerate(texts)] + shared)
    monkeypatch.setattr(semantic, "SKETCH_CANDIDATES", count)
    assert index.sketched
    for question in unit[:60].astype(np.float32):
        assert index.closeness(question, limit=8) == index.exact().closeness(question, limit=8)


def test_a_few_words_of_a_team_s_wiki_sentence_answer_where_a_default_role_would_ask() -> None:
    team = CatalogueSpec(
        (
            RoleSpec("Appeals Lead", (ResponsibilitySpec("Appeals queue for removed listings"),)),
            RoleSpec("Policy Lead", (ResponsibilitySpec("Prohibited items policy and its FAQ"),)),
        )
    )
    index = WorkspaceIndex(catalog_from_spec(team), examples=shipped_model())
    asked = index.matcher.match("who looks after the appeals queue?")
    assert asked.outcome == Outcome.ANSWER
    assert asked.best is not None and asked.best.target.role == "Appeals Lead"
    # Scored as the default's roles are, a third of the phrase named is not enough to answer.
    as_default = Matcher(catalog_entries(catalog_from_spec(team)))
    assert as_default.match("who looks after the appeals queue?").outcome == Outcome.CLARIFY


def test_words_and_meaning_agreeing_on_a_team_s_role_answer_without_a_margin() -> None:
    # A tuning catalogue of the benchmark: the words' best guess is the Release Manager, and so is
    # the meaning's, but the Engineering Manager comes close in meaning.
    roles = Path(__file__).resolve().parent.parent / "benchmarks/catalogues/mobile-app/roles.md"
    team = parse_roles_markdown(roles.read_text(encoding="utf-8"), "mobile-app")
    index = WorkspaceIndex(
        catalog_from_spec(team), examples=shipped_model(), vectors=shipped_vectors()
    )
    question = "apple rejcted the build, who handles app reveiw"
    asked = index.matcher.match(question)
    assert asked.outcome == Outcome.ANSWER
    assert asked.best is not None and asked.best.target.role == "Release Manager"
    # Asked for a margin, the two readings would only offer it among others.
    strict = replace(index.matcher.thresholds, agreed_unrivalled=1.01)
    held = index.matcher.verdict(index.matcher.assess(question), strict)
    assert held.outcome == Outcome.CLARIFY
    assert "Release Manager" in {c.target.role for c in held.candidates}


def test_the_query_adapter_moves_questions_only_and_the_phrases_stay_the_model_s_own() -> None:
    vectors = shipped_vectors()
    assert vectors.adapter is not None, "handlers/matching/minilm/query_adapter.npy is shipped"
    question = "who should I ask about the nightly retrain?"
    own, moved = vectors.question(question, adapted=False), vectors.question(question)
    assert abs(float(np.linalg.norm(moved)) - 1.0) < 1e-5
    assert not np.allclose(own, moved, atol=1e-3)
    # What is stored for a catalogue is the model's vector, so a new adapter re-embeds nothing.
    phrase = "Schedule and monitor the nightly retraining"
    stored = vectors.matrix([phrase])[0]
    assert np.allclose(stored, vectors.encoder.encode([phrase])[0], atol=1e-3)


def test_an_identity_adapter_leaves_a_question_s_vector_as_the_model_gives_it() -> None:
    model = shipped_vectors().encoder
    vectors = PhraseVectors(
        model, adapter=QueryAdapter(np.eye(semantic.DIMENSIONS, dtype=np.float32))
    )
    question = "who owns the feature store?"
    assert np.allclose(vectors.question(question), model.encode([question])[0], atol=1e-6)
