"""The `whoowns` command line on a real SQLite file: ask, batch, chat, db, catalogue import/export."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from tests.conftest import SEED_DOCUMENT


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("WHOOWNS_ADMINS", raising=False)
    return url


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.mark.usefixtures("db_url")
def test_ask_json_answers_data_drift_with_the_data_scientist() -> None:
    code, out = run("ask", "--json", "who handles data drift?")
    assert code == 0
    answer = json.loads(out)
    assert answer["intent"] == "who_owns" and answer["outcome"] == "answer"
    assert answer["role"] == "Data Scientist" and answer["responsibility"] == "Manage Data Drift"
    assert answer["notifications"] == [] and answer["reply"] == answer["text"]


@pytest.mark.usefixtures("db_url")
def test_a_close_call_the_example_questions_settle_is_answered() -> None:
    """The lexical score alone offers choices here; the shipped example questions say which one
    people asking this way meant (handlers/matching/examples.py)."""
    code, out = run("ask", "--json", "who moves our code from the sandbox to live?")
    assert code == 0
    answer = json.loads(out)
    assert answer["outcome"] == "answer" and answer["role"] == "MLOps Engineer"
    assert [c["role"] for c in answer["candidates"]][:1] == ["MLOps Engineer"]


@pytest.mark.usefixtures("db_url")
def test_batch_answers_one_json_object_per_line(tmp_path: Path) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text("who handles data drift?\n\ntell me a joke\nwho is the scrum master\n")
    code, out = run("ask", "--json", "--batch", str(questions))
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["outcome"] for a in answers] == ["answer", "unknown", "answer"]
    assert answers[0]["role"] is not None and answers[1]["role"] is None


@pytest.mark.usefixtures("db_url")
def test_ask_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("ask")[0] == 2
    assert run("ask", "--batch", "/no/such/file")[0] == 2
    assert "cannot read" in capsys.readouterr().err


def test_chat_reads_stdin_and_learns_a_choice(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("who handles metrics\n2\nwho handles metrics\n"))
    code, out = run("chat", "--user", "alice")
    assert code == 0
    assert "Did you mean" in out and "(type 1–3 to choose)" in out
    # The pick answers, and asking the same way again is answered directly.
    assert out.count("is the Data Scientist's") == 2


@pytest.mark.skipif(
    not SEED_DOCUMENT.exists(),
    reason=f"the shared seed document is not beside this checkout ({SEED_DOCUMENT})",
)
def test_catalog_import_of_the_seed_document(db_url: str, tmp_path: Path) -> None:
    code, out = run("catalog", "import", str(SEED_DOCUMENT), "--workspace", "slack:T42")
    assert code == 0 and "imported 15 roles into slack:T42" in out


def test_malformed_markdown_names_the_line_and_changes_nothing(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("* **Pilot:**\n    * Flies the plane\n* Not bold\n")
    assert run("catalog", "import", str(bad))[0] == 2
    assert "line 3" in capsys.readouterr().err
    _, out = run("ask", "--json", "what does the pilot do?")
    assert json.loads(out)["outcome"] == "unknown"


def test_export_import_round_trip_yaml_and_csv(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = tmp_path / "team.yaml"
    data = yaml.safe_load(run("export")[1])
    assert len(data["catalogue"]["roles"]) == 15
    data["assignments"] = [
        {
            "project": "default",
            "role": "Tester",
            "user": "alice",
            "name": "Alice",
            "kind": "primary",
        },
        {"project": "churn", "role": "Data Scientist", "user": "bob", "kind": "backup"},
    ]
    data["catalogue"]["roles"].append(
        {
            "name": "Prompt Engineer",
            "responsibilities": [{"text": "Prompt libraries", "keywords": ["prompts"]}],
        }
    )
    team.write_text(yaml.safe_dump(data))
    code, out = run("import", str(team))
    assert code == 0 and "1 new roles" in out and "2 assignment changes" in out
    code, out = run("ask", "--json", "who is the tester")
    assert [h["user"] for h in json.loads(out)["holders"]] == ["alice"]

    csv_file = tmp_path / "team.csv"
    assert run("export", "--format", "csv", "--out", str(csv_file))[0] == 0
    assert "assignment,churn,Data Scientist,,,bob" in csv_file.read_text()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    code, out = run("import", str(csv_file))
    assert code == 0 and "2 assignment changes" in out
    exported_again = yaml.safe_load(run("export")[1])
    assert {
        (a["project"], a["role"], a["user"], a["kind"]) for a in exported_again["assignments"]
    } == {
        ("default", "Tester", "alice", "primary"),
        ("churn", "Data Scientist", "bob", "backup"),
    }
    roles = {r["name"]: r for r in exported_again["catalogue"]["roles"]}
    assert roles["Prompt Engineer"]["responsibilities"] == [
        {"text": "Prompt libraries", "keywords": ["prompts"]}
    ]
    assert len(roles) == 16


def test_malformed_import_names_the_line_and_changes_nothing(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "catalogue:\n  roles:\n    - name: Tester\n      responsibilities: [Testing]\n"
        "assignments:\n  - role: Tester\n    user: alice\n  - role: Astronaut\n    user: bob\n"
    )
    assert run("import", str(bad))[0] == 2
    err = capsys.readouterr().err
    assert "line 8" in err and "Astronaut" in err
    _, out = run("ask", "--json", "who is the tester")
    assert json.loads(out)["holders"] == []
    broken = tmp_path / "broken.csv"
    broken.write_text(
        "record,project,role,text,keywords,user,name,kind,until\n"
        "role,,Tester,,,,,,\n"
        "assignment,default,Tester,,,bob,,boss,\n"
    )
    assert run("import", str(broken))[0] == 2
    assert "line 3" in capsys.readouterr().err


def test_db_upgrade_reports_the_schema(db_url: str) -> None:
    code, out = run("db", "upgrade")
    versions = Path(__file__).parent.parent / "store" / "migrations" / "versions"
    head = max(p.name[:4] for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert code == 0 and f"schema at {head}" in out


def test_the_installed_console_script_runs(db_url: str) -> None:
    script = Path(sys.executable).with_name("whoowns")
    result = subprocess.run(
        [str(script), "ask", "who handles data drift?"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Data Scientist" in result.stdout


def test_user_acts_with_their_own_rights_and_names_become_people(db_url: str) -> None:
    code, out = run("ask", "--json", "assign @alice as Tester")
    assert code == 0 and json.loads(out)["notifications"][0]["user"] == "alice"
    _, out = run("ask", "--json", "--user", "mallory", "assign @mallory as Team Lead")
    refused = json.loads(out)
    assert refused["intent"] == "assign" and "Only a workspace admin" in refused["reply"]
    _, out = run("ask", "--json", "--user", "alice", "what are my roles")
    assert json.loads(out)["reply"] == "You hold in project default: Tester."


def test_escalation_and_reminder_from_the_command_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOOWNS_REMIND_AFTER_MINUTES", "0.001")
    run("ask", "assign @carol as Scrum Master")
    code, out = run("ask", "--user", "dave", "escalate: blocked on GPU quota")
    assert code == 0 and "Escalated as #1" in out and "[to @carol]" in out
    time.sleep(0.1)
    code, out = run("remind")
    assert code == 0 and "reminder for #1 (Project Manager)" in out and "1 reminders sent" in out


def test_bad_settings_are_refused_clearly(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WHOOWNS_REMIND_AFTER_MINUTES", "soon")
    assert run("ask", "hi")[0] == 2
    assert "WHOOWNS_REMIND_AFTER_MINUTES must be a number" in capsys.readouterr().err


def test_outbox_settings_come_from_the_environment() -> None:
    from bot.settings import Settings, SettingsError

    settings = Settings.from_env(
        {"WHOOWNS_OUTBOX_LEASE_MINUTES": "0.5", "WHOOWNS_OUTBOX_GIVE_UP_MINUTES": "90"}
    )
    assert settings.delivery.lease == timedelta(seconds=30)
    assert settings.delivery.give_up_after == timedelta(minutes=90)
    assert Settings.from_env({}).delivery.give_up_after == timedelta(hours=24)
    with pytest.raises(SettingsError, match="WHOOWNS_OUTBOX_LEASE_MINUTES must be more than 0"):
        Settings.from_env({"WHOOWNS_OUTBOX_LEASE_MINUTES": "0"})


def test_settings_for_slack_are_checked_and_secrets_kept_out_of_repr() -> None:
    from bot.settings import Settings, SettingsError

    with pytest.raises(
        SettingsError, match=r"SLACK_BOT_TOKEN \(one workspace\) or SLACK_CLIENT_ID"
    ):
        Settings.from_env({"SLACK_SIGNING_SECRET": "s"})
    with pytest.raises(SettingsError, match="xapp"):
        Settings.from_env(
            {"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "x"}
        )
    settings = Settings.from_env(
        {
            "SLACK_SIGNING_SECRET": "sekrit",
            "SLACK_BOT_TOKEN": "xoxb-sekrit",
            "DATABASE_URL": "postgresql://u:pw@h/db",
        }
    )
    assert settings.slack_mode == "http"
    assert "sekrit" not in repr(settings) and "pw" not in repr(settings)
    assert Settings.from_env({}).slack is None


def test_serve_describes_what_is_enabled() -> None:
    from bot.server import describe
    from bot.settings import Settings

    lines = describe(Settings.from_env({}), "127.0.0.1", 3978)
    assert any("Slack: disabled" in line and "SLACK_BOT_TOKEN" in line for line in lines)


def test_serve_runs_with_no_credentials_and_stops_on_sigterm(db_url: str) -> None:
    import signal
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    script = Path(sys.executable).with_name("whoowns")
    server = subprocess.Popen(
        [str(script), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=2
                ) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, err
    assert "Slack: disabled" in out and f"http://127.0.0.1:{port}" in out
