"""The matcher: normalisation, the three outcomes, and accuracy on the frozen question set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from spellchecker import SpellChecker

from handlers.matching.evaluation import evaluate
from handlers.matching.examples import shipped_model
from handlers.matching.matcher import COMMON_WORD_COUNT, Matcher, Outcome, common_english_words
from handlers.matching.registry import WorkspaceIndex, catalog_entries, catalog_from_spec
from handlers.matching.roles import RoleResolver
from handlers.matching.semantic import shipped_vectors
from handlers.matching.text import MessageForm, content_words, message_form, stem, words
from seed.catalogue import default_catalogue
from seed.examples import load_questions

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    """The matcher production runs on the default catalogue: words, examples and meaning."""
    catalog = catalog_from_spec(default_catalogue())
    return WorkspaceIndex(catalog, examples=shipped_model(), vectors=shipped_vectors()).matcher


def test_normalisation_folds_spelling_abbreviations_and_stop_words() -> None:
    assert words("Visualisation of the CI/CD repo") == [
        "visualization",
        "of",
        "the",
        "ci",
        "cd",
        "repository",
    ]
    assert content_words("Who's responsible for IaC?") == ["infrastructure", "code"]
    assert words("analyse the catalogue") == ["analyze", "the", "catalog"]
    # A list of environments is environments; when something happens is not what it is.
    assert content_words("deploys to dev, test and prod") == ["deploys", "environments"]
    assert content_words("who tests it before release?") == ["tests"]


def test_common_words_scanned_from_the_list_are_the_library_s_own() -> None:
    counts = SpellChecker(language="en", distance=1).word_frequency.dictionary
    expected = {word for word, count in counts.items() if count >= COMMON_WORD_COUNT}
    assert common_english_words() == expected


def test_common_words_are_not_typos(matcher: Matcher) -> None:
    # "unlock" is not "unblock", "draft" not "drift", "send" not "spend", "charity" not "chart";
    # typos, and other forms of the same word ("advise"), are still corrected.
    assert matcher.analyse("unlock the draft I send for charity") == [
        "unlock",
        "draft",
        "send",
        "chariti",
    ]
    assert matcher.analyse("retrianing the modle") == ["retrain", "model"]
    assert matcher.analyse("technical advise") == ["technic", "advic"]


@pytest.mark.parametrize(
    ("question", "role", "responsibility"),
    [
        ("who handles data drift?", "Data Scientist", "Manage Data Drift"),
        ("Who handles DATA DRIFT", "Data Scientist", "Manage Data Drift"),
        (
            "who owns the terraform",
            "DevOps Engineer",
            "Provision environments via Infrastructure as Code",
        ),
        ("who is the scrum mastr", "Scrum Master", None),
        ("whos our PO", "Product Owner / Business Analyst", None),
        (
            "who do I talk to about retrianing the churn model",
            "Data Scientist",
            "Model training & retraining",
        ),
        ("ci/cd", "MLOps Engineer", "Continuous Integration & Continuous Deployment"),
    ],
)
def test_confident_questions_are_answered(
    matcher: Matcher, question: str, role: str, responsibility: str | None
) -> None:
    result = matcher.match(question)
    assert result.outcome == Outcome.ANSWER
    assert result.best is not None
    assert result.best.target.role == role
    assert result.best.target.responsibility == responsibility


def test_a_responsibility_two_roles_share_is_answered_with_both(matcher: Matcher) -> None:
    result = matcher.match("who handles cost management?")
    assert result.outcome == Outcome.ANSWER and result.shared
    assert {c.target.role for c in result.candidates} == {
        "Project Manager",
        "Azure Infrastructure Engineer/ Administrator",
    }


@pytest.mark.parametrize(
    "question", ["tell me a joke", "what's the weather in Berlin?", "who won the football", ""]
)
def test_out_of_scope_is_not_answered(matcher: Matcher, question: str) -> None:
    assert matcher.match(question).outcome == Outcome.UNKNOWN


def test_statements_and_knowledge_questions_are_offered_not_answered(matcher: Matcher) -> None:
    for question in ("what is data drift?", "standup is cancelled today", "who invented scrum?"):
        assert matcher.match(question).outcome != Outcome.ANSWER, question
    assert message_form("data drift") == MessageForm.TOPIC
    assert message_form("need someone for terraform") == MessageForm.OWNERSHIP
    assert message_form("explain CI/CD to me") == MessageForm.OTHER


def test_vague_question_gets_choices_from_different_roles(matcher: Matcher) -> None:
    result = matcher.match("who handles metrics")
    assert result.outcome == Outcome.CLARIFY
    roles = [c.target.role for c in result.candidates]
    assert 2 <= len(roles) <= 3 and len(set(roles)) == len(roles)
    assert set(roles) == {"Product Owner / Business Analyst", "Data Scientist", "MLOps Engineer"}


def test_role_resolver_fuzzy_and_ambiguous() -> None:
    roles = catalog_from_spec(default_catalogue()).roles
    resolver = RoleResolver(roles)
    assert resolver.resolve("scrum mastr").role is not None
    assert resolver.resolve("scrum mastr").role.name == "Scrum Master"  # type: ignore[union-attr]
    assert resolver.resolve("PO").role.name == "Product Owner / Business Analyst"  # type: ignore[union-attr]
    ambiguous = resolver.resolve("data")
    assert ambiguous.role is None
    assert {r.name for r in ambiguous.choices} >= {"Data Engineer", "Data Scientist"}
    assert resolver.resolve("astronaut").role is None
    assert resolver.resolve("astronaut").choices == ()


@pytest.mark.parametrize(
    "question",
    [
        "who is the product owner of chatgpt",
        "who's spotify's chief architect",
        "who is the PM of Canada",
        "who is the team lead in the movie The Social Network",
        "what does a scrum master earn in germany",
        "is product owner a real job",
        "according to the scrum guide, who is accountable for the product backlog",
        "who is the solution architect on the new berlin airport project",
        "who is the team lead of the nasa perseverance software team",
        "do we even need a scrum master",
        "how many data engineers do we need per data scientist",
        "in the phoenix project book, who does the deployments?",
        "what football team does the devops engineer support?",
        "which is harder, data engineering or data science",
        "who created terraform",
        "who came up with the great expectations library",
        "should data scientists write their own unit tests?",
        "honestly is a solution architect needed when you have a good tech lead",
        "standup cancelled today",
        "you're a legend, thanks for finding the devops person",
        "shout out and thanks to the tester who caught that bug",
        "write a limerick about a devops engineer who hates yaml",
        "pretend you're our scrum master and run the retro",
        "hypothetically, with no data engineer, who would build the pipelines?",
        "who approves my annual leave next month",
        "who do I give my doctor's note to?",
        "who schedules the fire drill",
        "why do we need a solution architect at all?",
        "what is a model registry and do we even need one?",
        "you know who handles the terraform. what's your favourite colour?",
        "I know you tell people who owns drift. Do you ever sleep?",
        "who is the product manager for chatgpt",
        "who is the product owner for the Microsoft Teams app?",
        "who's the programme manager for HS2",
        "who is the product owner of Netflix?",
        "where is the model repository hosted? I just need the URL",
    ],
)
def test_roles_asked_about_elsewhere_or_in_general_are_not_answered(
    matcher: Matcher, question: str
) -> None:
    assert matcher.match(question).outcome != Outcome.ANSWER


@pytest.mark.parametrize(
    ("question", "role"),
    [
        ("who's the scrum master on project atlas", "Scrum Master"),
        ("who's our QA person for churn", "Tester"),
        ("who is the data scientist for the recommender", "Data Scientist"),
        (
            "who's the product owner of the pricing project this quarter",
            "Product Owner / Business Analyst",
        ),
        ("who's the devops engineer for the company's platform", "DevOps Engineer"),
        ("who's the project manager on team phoenix?", "Project Manager"),
        ("who is the data scientist for the churn model on the retail team", "Data Scientist"),
        ("who makes mlops part of the wider devops lifecycle", "DevOps Engineer"),
        ("who created our terraform modules?", "DevOps Engineer"),
        ("who maintains the team utilities?", "Team Lead"),
        ("who created the group account on github?", "Group Manager"),
        ("who deploys to dev/uat/prod?", "MLOps Engineer"),
        ("who tests the scoring endpoint before release?", "Tester"),
        ("the nightly job is failing at ingestion, who can help?", "Data Engineer"),
        ("marketing keeps interrupting the developers, who shields the team?", "Scrum Master"),
        ("who does SIT for the scoring service?", "Tester"),
        ("who is the DS on the pricing model?", "Data Scientist"),
        ("the nightly load failed again. who owns the ingestion pipelines", "Data Engineer"),
        ("who writes the 'as a ... I want...' stories?", "Product Owner / Business Analyst"),
        ("who's the tester for the invoice matching service?", "Tester"),
        ("who is the PM on the demand forecasting rollout", "Project Manager"),
        ("which role has ownership of the data quality?", "Data Engineer"),
        ("who picks the libs/fwks for the churn model", "Project Lead"),
        # A capitalised code name after "for" is a project of ours.
        ("who is the PM for Orion?", "Project Manager"),
        ("need to find the project lead for Phoenix - anyone?", "Project Lead"),
        ("who's the team lead for Atlas these days?", "Team Lead"),
        ("do we even have a solution architect on this programme??", "Solution Architect"),
        ("who's the MLOps person for the recommender project", "MLOps Engineer"),
        ("who builds the PBI dashboards for model outputs?", "Data Analyst"),
        ("who's the product owner for Churn v2?", "Product Owner / Business Analyst"),
        # The role asked for, not its alternative.
        ("do we have a data engineer or do the scientists build the pipelines?", "Data Engineer"),
        ("is there a tester yet or do the app devs test their own code?", "Tester"),
        ("who owns the drift dashboard? and who retrains the model", "Data Scientist"),
    ],
)
def test_roles_asked_about_our_own_work_are_answered(
    matcher: Matcher, question: str, role: str
) -> None:
    result = matcher.match(question)
    assert result.outcome == Outcome.ANSWER and result.best is not None
    assert result.best.target.role == role


def test_a_project_name_places_a_role_question_here(matcher: Matcher) -> None:
    question = "who is the project manager for atlas"
    offered = matcher.match(question)
    assert offered.outcome == Outcome.CLARIFY and offered.elsewhere
    answered = matcher.match(question, local_names=frozenset({"atlas"}))
    assert answered.outcome == Outcome.ANSWER and answered.best is not None
    assert answered.best.target.role == "Project Manager"


@dataclass(frozen=True)
class Floor:
    """The levels a frozen set was measured at, held against regressions (README, "How well it
    matches"). Sets 4 and 5 were scored once, blind, after the last change to the matcher."""

    file: str
    plain: float
    precision: float
    paraphrases: float
    in_scope: int
    out_of_scope: int


FROZEN_FLOORS = [
    Floor("questions.csv", 0.985, 0.993, 0.857, 170, 40),  # 132 of 134; 164 of 165
    Floor("questions_frozen2.csv", 0.937, 0.975, 0.818, 220, 70),  # 164 of 175; 197 of 202
    Floor("questions_frozen3.csv", 0.963, 0.980, 0.850, 220, 75),  # 159 of 165; 202 of 206
    Floor("questions_frozen4.csv", 0.975, 0.995, 0.890, 220, 75),  # 162 of 166; 205 of 206
    Floor("questions_frozen5.csv", 0.982, 0.990, 0.943, 220, 75),  # 166 of 169; 211 of 213
]


@pytest.mark.parametrize("floor", FROZEN_FLOORS, ids=lambda f: f.file)
def test_accuracy_on_each_frozen_set_stays_at_the_level_measured(
    matcher: Matcher, floor: Floor
) -> None:
    report = evaluate(matcher, load_questions(DATA / floor.file, split="frozen"))
    assert report.in_scope >= floor.in_scope and report.out_of_scope >= floor.out_of_scope
    assert report.top1_without_paraphrases >= floor.plain
    assert report.precision >= floor.precision
    assert report.paraphrase_rate >= floor.paraphrases
    assert report.out_of_scope_answered == 0


def test_question_set_shape() -> None:
    questions = load_questions(DATA / "questions.csv")
    assert len(questions) >= 200
    frozen = [q for q in questions if q.split == "frozen"]
    roles = {r.name for r in default_catalogue().roles}
    for role in roles:
        assert sum(role in q.expected for q in questions) >= 8, role
        assert any(role in q.expected for q in frozen), role
    assert sum(not q.in_scope for q in questions) >= 40
    assert all(q.expected <= roles for q in questions)


def test_ten_thousand_responsibilities_still_answer(matcher: Matcher) -> None:
    from benchmarks.matching import generated_catalogue

    big = Matcher(
        catalog_entries(catalog_from_spec(generated_catalogue(10_000))), examples=shipped_model()
    )
    assert big.size > 10_000
    result = big.match("who handles data drift?")
    assert result.outcome == Outcome.ANSWER
    assert result.best is not None and result.best.target.role == "Data Scientist"


def test_no_keyword_of_one_role_is_just_another_role_s_name() -> None:
    """A keyword that reduces to another role's name ("how we do mlops" is "mlops") would tie
    every question naming that role with the keyword's role."""
    entries = catalog_entries(catalog_from_spec(default_catalogue()))

    def stems(phrase: str) -> frozenset[str]:
        return frozenset(stem(w) for w in content_words(phrase))

    names = {
        stems(phrase): entry.target.role
        for entry in entries
        if entry.target.responsibility is None
        for phrase in entry.phrases
    }
    clashes = [
        (entry.target.role, phrase, names[stems(phrase)])
        for entry in entries
        if entry.target.responsibility is not None
        for phrase in entry.phrases
        if names.get(stems(phrase), entry.target.role) != entry.target.role
    ]
    assert not clashes
