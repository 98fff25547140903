"""The example model: what people asking a certain way meant, used to settle close calls only."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.matching.examples import NO_ROLE, ExampleModel, question_stems, shipped_model
from handlers.matching.matcher import CatalogEntry, Matcher, Outcome
from handlers.matching.registry import catalog_entries, catalog_from_spec
from seed.catalogue import default_catalogue
from seed.examples import Question, example_questions, example_sets, load_questions

DATA = Path(__file__).resolve().parent / "data"
GROUP_LEAD = "who's the group lead above our team?"


def model(*examples: tuple[str, str]) -> ExampleModel:
    return ExampleModel(
        Question(text, frozenset(role.split("|")) if role else frozenset(), "direct", "tune")
        for text, role in examples
    )


@pytest.fixture(scope="module")
def entries() -> list[CatalogEntry]:
    return catalog_entries(catalog_from_spec(default_catalogue()))


def test_a_close_call_between_offered_roles_is_settled_by_the_examples(
    entries: list[CatalogEntry],
) -> None:
    alone = Matcher(entries).match(GROUP_LEAD)
    assert alone.outcome == Outcome.CLARIFY
    assert {"Group Manager", "Team Lead"} <= {c.target.role for c in alone.candidates}

    examples = model(
        ("who is the group lead over all the teams", "Group Manager"),
        ("who's the lead above the team leads", "Group Manager"),
        ("who leads our team day to day", "Team Lead"),
        ("tell me a joke", ""),
    )
    settled = Matcher(entries, examples=examples).match(GROUP_LEAD)
    assert settled.outcome == Outcome.ANSWER
    assert settled.best is not None and settled.best.target.role == "Group Manager"
    # The answer alone: the choices it beat scored higher, and candidates are always best first.
    assert [c.target.role for c in settled.candidates] == ["Group Manager"]


def test_examples_never_answer_what_the_rules_hold_back(entries: list[CatalogEntry]) -> None:
    """A statement, a role placed elsewhere and an off-topic question stay unanswered however
    sure the examples are."""
    sure = model(
        ("our data scientist is out sick today", "Data Scientist"),
        ("who is the product owner of chatgpt", "Product Owner / Business Analyst"),
        ("tell me a joke about data", "Data Scientist"),
    )
    matcher = Matcher(entries, examples=sure)
    assert matcher.match("our data scientist is out sick today").outcome != Outcome.ANSWER
    assert matcher.match("who is the product owner of chatgpt").outcome != Outcome.ANSWER
    assert matcher.match("tell me a joke about data").outcome == Outcome.UNKNOWN


def test_a_role_the_examples_prefer_but_the_matcher_does_not_offer_is_not_answered(
    entries: list[CatalogEntry],
) -> None:
    elsewhere = model(
        ("who's the group lead above our team?", "Scrum Master"),
        ("the group lead above our team", "Scrum Master"),
    )
    match = Matcher(entries, examples=elsewhere).match(GROUP_LEAD)
    assert match.outcome == Outcome.CLARIFY


def test_the_model_guesses_a_role_no_role_or_nothing() -> None:
    examples = model(
        ("who retrains the churn model", "Data Scientist"),
        ("who owns the retraining schedule", "Data Scientist"),
        ("who runs the sprint retro", "Scrum Master"),
        ("tell me a joke", ""),
        ("what's for lunch", ""),
    )
    retrain = examples.guess(question_stems("who retrains models?"))
    assert retrain is not None and retrain.role == "data scientist"
    assert 0.5 < retrain.probability <= 1.0
    joke = examples.guess(question_stems("got a joke?"))
    assert joke is not None and joke.role == NO_ROLE
    assert examples.guess(question_stems("quantum chromodynamics")) is None
    assert examples.labels == {"data scientist", "scrum master", NO_ROLE}


def test_a_question_two_roles_share_counts_for_both() -> None:
    shared = model(("cost management", "Project Manager|Project Lead"), ("a joke", ""))
    guess = shared.guess(question_stems("cost management"))
    assert guess is not None and guess.role in {"project manager", "project lead"}
    assert guess.probability == pytest.approx(0.5, abs=0.1)


def test_shipped_examples_name_catalogue_roles_and_hold_no_frozen_question() -> None:
    assert example_sets(), "seed/examples/ ships no set"
    shipped = example_questions()
    roles = {r.name for r in default_catalogue().roles}
    assert all(q.expected <= roles for q in shipped)
    assert sum(not q.in_scope for q in shipped) >= len(shipped) // 4
    frozen = [
        *load_questions(DATA / "questions.csv", split="frozen"),
        *load_questions(DATA / "questions_frozen2.csv"),
        *load_questions(DATA / "questions_frozen3.csv"),
        *load_questions(DATA / "questions_frozen4.csv"),
    ]
    shipped_texts = {q.text.casefold() for q in shipped}
    assert not [q.text for q in frozen if q.text.casefold() in shipped_texts]
    assert shipped_model().labels == {r.casefold() for r in roles} | {NO_ROLE}
