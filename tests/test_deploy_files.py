"""The deployment files (Dockerfile, .dockerignore, docker-compose.yml), checked by reading them.

No Docker is needed: a small Dockerfile parser, the .dockerignore rules and the compose file as YAML
are enough to hold the essentials in place (slim base, non-root user, dependency layer first, the
health check, what is served, the PostgreSQL service and the two replicas).
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.teams.package import TEAMS_DIR

REPO = Path(__file__).resolve().parent.parent
PORT = 3978
BOTS = ("bot1", "bot2")
PASSTHROUGH = (
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "MicrosoftAppId",
    "MicrosoftAppPassword",
    "MicrosoftAppType",
    "MicrosoftAppTenantId",
    "WHOOWNS_ADMINS",
)
# Commands in a RUN that only root may do; the USER switch must come after the last of them.
ROOT_COMMANDS = ("apt-get", "pip install", "useradd", "groupadd", "chown", "chmod", "mkdir")


# --- Dockerfile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str

    def words(self) -> list[str]:
        """The arguments: the JSON array (exec form) as it is, else split like a shell would."""
        exec_form = self.exec_form()
        return exec_form if exec_form is not None else shlex.split(self.args)

    def exec_form(self) -> list[str] | None:
        if not self.args.startswith("["):
            return None
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        if isinstance(value, list) and all(isinstance(word, str) for word in value):
            return [str(word) for word in value]
        return None


def parse_dockerfile(text: str) -> list[Instruction]:
    """One Instruction per logical line: continuations joined, comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        # Comments (and parser directives) are whole lines, also inside a continuation.
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(part for part in pending if part).partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        pending = []
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def without_flags(words: list[str]) -> list[str]:
    """Drops the leading --flag=value options of COPY, FROM and the like."""
    index = 0
    while index < len(words) and words[index].startswith("--"):
        index += 1
    return words[index:]


@cache
def dockerfile() -> tuple[Instruction, ...]:
    return tuple(parse_dockerfile((REPO / "Dockerfile").read_text(encoding="utf-8")))


def instructions(keyword: str) -> list[Instruction]:
    return [instruction for instruction in dockerfile() if instruction.keyword == keyword]


def copy_sources(instruction: Instruction) -> list[str]:
    """The build-context paths a COPY/ADD reads (none for COPY --from, which reads a stage)."""
    words = instruction.words()
    if any(word.startswith("--from") for word in words):
        return []
    paths = without_flags(words)
    assert len(paths) >= 2, f"line {instruction.line}: {instruction.keyword} needs a source"
    return [str(PurePosixPath(path)) for path in paths[:-1]]


def env_values() -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in instructions("ENV"):
        words = shlex.split(instruction.args)
        if "=" not in words[0]:  # the legacy `ENV KEY value` form
            values[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            values[key] = value
    return values


def volumes() -> list[str]:
    return [path.rstrip("/") for volume in instructions("VOLUME") for path in volume.words()]


def pyproject() -> dict[str, Any]:
    with (REPO / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def packages() -> list[str]:
    """The top-level packages of [tool.setuptools.packages.find] (`bot*` → `bot`)."""
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({pattern.split(".")[0].rstrip("*") for pattern in include})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM python:3.11-slim\n", [(1, "FROM", "python:3.11-slim")]),
        (
            "# syntax=docker/dockerfile:1\n\nrun a \\\n  # a comment in between\n  && b\\\n  c\n",
            [(3, "RUN", "a && b c")],
        ),
        (
            'CMD ["whoowns", "serve"]\nEXPOSE 3978\n',
            [(1, "CMD", '["whoowns", "serve"]'), (2, "EXPOSE", "3978")],
        ),
    ],
)
def test_the_dockerfile_parser_joins_continuations_and_drops_comments(
    text: str, expected: list[tuple[int, str, str]]
) -> None:
    parsed = parse_dockerfile(text)
    assert [(i.line, i.keyword, i.args) for i in parsed] == expected


def test_the_base_image_is_python_311_slim_pinned_by_tag() -> None:
    stages = instructions("FROM")
    assert stages, "the Dockerfile has no FROM"
    for stage in stages:
        image = without_flags(stage.words())[0]
        assert image.startswith("python:3.11-slim"), f"line {stage.line}: base image {image}"


def test_the_server_runs_as_an_unprivileged_user_after_every_root_step() -> None:
    users = instructions("USER")
    assert users, "no USER: the server would run as root"
    last = users[-1]
    user = last.args.split(":")[0]
    assert user not in ("root", "0"), f"line {last.line}: USER {last.args}"
    root_runs = [
        run for run in instructions("RUN") if any(command in run.args for command in ROOT_COMMANDS)
    ]
    assert root_runs, "no RUN installs anything or creates the user"
    assert last.line > root_runs[-1].line, (
        f"USER (line {last.line}) must come after the last RUN needing root (line "
        f"{root_runs[-1].line})"
    )
    creates = [run.args for run in instructions("RUN") if "useradd" in run.args]
    option = "--uid" if user.isdigit() else "useradd"
    assert any(re.search(rf"{option}\s.*\b{re.escape(user)}\b", run) for run in creates), (
        f"USER {user} is not created by a useradd in the image"
    )


def test_dependencies_are_installed_in_their_own_layer_before_the_source_is_copied() -> None:
    steps = [i for i in dockerfile() if i.keyword in ("RUN", "COPY", "ADD")]
    installs = [
        i for i, step in enumerate(steps) if step.keyword == "RUN" and "pip install" in step.args
    ]
    assert installs, "nothing is installed with pip"
    first_install = installs[0]
    for step in steps[:first_install]:
        for source in copy_sources(step) if step.keyword != "RUN" else []:
            assert source in ("pyproject.toml", "README.md"), (
                f"line {step.line}: {source} is copied before the dependencies are installed, so "
                "every change to it would reinstall them"
            )
    source_copies = [
        step
        for step in steps
        if step.keyword != "RUN" and {".", *packages()} & set(copy_sources(step))
    ]
    assert source_copies, "the source is never copied"
    assert source_copies[0].line > steps[first_install].line
    assert any(
        "pip install" in step.args and step.line > source_copies[-1].line
        for step in steps
        if step.keyword == "RUN"
    ), "the project itself is not installed after its source is copied"


def test_every_package_its_data_and_the_teams_template_are_copied() -> None:
    copied = {
        source for i in dockerfile() if i.keyword in ("COPY", "ADD") for source in copy_sources(i)
    }
    needed = {"pyproject.toml", pyproject()["project"]["readme"], *packages()}
    needed.add(TEAMS_DIR.relative_to(REPO).as_posix())
    assert "." in copied or needed <= copied, f"not copied: {sorted(needed - copied)}"


def test_the_project_is_installed_editable_so_the_teams_template_is_found() -> None:
    # bot.teams.package looks for teams/ next to the packages' source, not inside site-packages.
    assert TEAMS_DIR == REPO / "teams"
    installs = [run.args for run in instructions("RUN") if "pip install" in run.args]
    assert any(re.search(r"(--editable|-e)\s+\.", args) for args in installs), installs


def test_every_path_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    data_globs: dict[str, list[str]] = pyproject()["tool"]["setuptools"]["package-data"]
    for instruction in dockerfile():
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        for source in copy_sources(instruction):
            path = REPO / source
            assert path.exists(), f"line {instruction.line}: {source} does not exist"
            assert not dockerignored(source), (
                f"line {instruction.line}: .dockerignore drops {source}"
            )
            if not path.is_dir():
                continue
            needed = {*path.rglob("*.py"), *path.glob("*.json"), *path.glob("*.png")}
            for pattern in data_globs.get(source, []):
                needed.update(path.glob(pattern))
            for file in needed:
                relative = file.relative_to(REPO).as_posix()
                if "__pycache__" not in relative:
                    assert not dockerignored(relative), f".dockerignore drops {relative}"


def test_port_3978_is_exposed() -> None:
    exposed = {port.split("/")[0] for expose in instructions("EXPOSE") for port in expose.words()}
    assert str(PORT) in exposed


def test_the_healthcheck_gets_healthz_without_curl() -> None:
    checks = instructions("HEALTHCHECK")
    assert len(checks) == 1
    match = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(.+)", checks[0].args)
    assert match, f"HEALTHCHECK without CMD: {checks[0].args}"
    command = match.group(2)
    assert f"http://127.0.0.1:{PORT}/healthz" in command
    assert "python" in command
    assert not re.search(r"\b(curl|wget)\b", command), "slim images have neither curl nor wget"


def test_the_command_serves_on_all_interfaces() -> None:
    entrypoints = instructions("ENTRYPOINT")
    commands = instructions("CMD")
    assert commands or entrypoints
    words: list[str] = []
    for instruction in entrypoints[-1:] + commands[-1:]:
        exec_form = instruction.exec_form()
        assert exec_form is not None, (
            f"line {instruction.line}: use the exec form so the server gets SIGTERM"
        )
        words += exec_form
    line = " ".join(words)
    assert "whoowns serve" in line, line
    assert "--host 0.0.0.0" in line, line
    assert "--port" not in words or words[words.index("--port") + 1] == str(PORT), line


def test_the_environment_is_unbuffered_and_the_database_lives_in_a_writable_volume() -> None:
    env = env_values()
    assert env.get("PYTHONUNBUFFERED") == "1"
    url = env.get("DATABASE_URL", "")
    assert url.startswith("sqlite+aiosqlite:////"), url
    database = PurePosixPath(url.removeprefix("sqlite+aiosqlite:///"))
    volume = next((v for v in volumes() if database.is_relative_to(v)), None)
    assert volume is not None, f"{database} is not in a VOLUME ({volumes()})"
    declared = next(i for i in instructions("VOLUME") if volume in i.words())
    chowns = [
        run
        for run in instructions("RUN")
        if re.search(rf"chown\s.*{re.escape(volume)}\b", run.args)
    ]
    # A change made after VOLUME is discarded: the ownership must be set before it.
    assert chowns and chowns[0].line < declared.line, f"{volume} is not given to the user first"


# --- .dockerignore --------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's rules: paths from the context root; `*` and `?` within a name, `**` across."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        elif pattern[index] == "[" and "]" in pattern[index:]:
            end = pattern.index("]", index)
            members = pattern[index + 1 : end]
            out.append("[" + ("^" + members[1:] if members.startswith("!") else members) + "]")
            index = end + 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(out) + r"\Z")


@cache
def dockerignore_rules() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = str(PurePosixPath(line.removeprefix("!").lstrip("/")))
        rules.append((negated, _pattern_regex(pattern)))
    return tuple(rules)


def dockerignored(path: str) -> bool:
    """Whether the path, or a directory it is in, is left out of the build context."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    ignored = False
    for negated, regex in dockerignore_rules():
        if any(regex.match(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "whoowns.db",
        "bot/__pycache__/cli.cpython-311.pyc",
        ".mypy_cache/3.11/bot.json",
        ".pytest_cache/README.md",
        "whoowns.egg-info/PKG-INFO",
        "tests/test_cli.py",
        "tests/data/questions.csv",
        "benchmarks/matching.py",
    ],
)
def test_dockerignore_keeps_environments_caches_data_and_tests_out(path: str) -> None:
    assert dockerignored(path)


def test_dockerignore_keeps_the_source_in() -> None:
    for path in (
        "pyproject.toml",
        "README.md",
        "bot/cli.py",
        "store/migrations/env.py",
        "seed/examples/questions_tune_extra14.csv",
    ):
        assert not dockerignored(path), path


# --- docker-compose.yml ---------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def service(name: str) -> dict[str, Any]:
    services: dict[str, Any] = compose()["services"]
    assert name in services, f"no service {name} in docker-compose.yml"
    found: dict[str, Any] = services[name]
    return found


def environment(definition: dict[str, Any]) -> dict[str, str]:
    raw = definition.get("environment", {})
    if isinstance(raw, list):
        return dict(str(item).partition("=")[::2] for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def depends_on(definition: dict[str, Any]) -> dict[str, str]:
    raw = definition.get("depends_on", {})
    if isinstance(raw, list):
        return {str(name): "service_started" for name in raw}
    return {str(name): str(spec.get("condition", "service_started")) for name, spec in raw.items()}


def built_from_the_dockerfile(definition: dict[str, Any]) -> bool:
    build = definition.get("build")
    if isinstance(build, str):
        build = {"context": build}
    if not isinstance(build, dict):
        return False
    context = (REPO / str(build.get("context", "."))).resolve()
    return context == REPO and (context / str(build.get("dockerfile", "Dockerfile"))).is_file()


def postgres() -> tuple[str, dict[str, Any]]:
    services: dict[str, Any] = compose()["services"]
    found = [
        (name, definition)
        for name, definition in services.items()
        if str(definition.get("image", "")).startswith("postgres:")
    ]
    assert len(found) == 1, "expected one PostgreSQL service"
    return found[0]


def test_postgres_16_has_a_healthcheck_and_a_named_volume() -> None:
    _, db = postgres()
    assert re.fullmatch(r"postgres:16(\.\d+)*(-[\w.]+)?", str(db["image"])), db["image"]
    test = db["healthcheck"]["test"]
    assert "pg_isready" in (" ".join(test) if isinstance(test, list) else test)
    named = set(compose().get("volumes") or {})
    mounts = [str(volume).split(":") for volume in db.get("volumes", [])]
    assert any(
        source in named and target == "/var/lib/postgresql/data" for source, target, *_ in mounts
    ), mounts


@pytest.mark.parametrize("name", BOTS)
def test_each_replica_is_built_here_and_uses_the_postgres_service(name: str) -> None:
    bot = service(name)
    db_name, db = postgres()
    assert built_from_the_dockerfile(bot)
    assert "command" not in bot, "the replicas run the image's command, whoowns serve"
    assert bot.get("restart") == "unless-stopped"
    url = urlsplit(environment(bot)["DATABASE_URL"])
    db_env = environment(db)
    assert url.scheme in ("postgresql", "postgres")
    assert (url.hostname, url.port) == (db_name, 5432)
    assert (url.username, url.password) == (db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"])
    assert url.path == "/" + db_env["POSTGRES_DB"]
    assert depends_on(bot).get(db_name) == "service_healthy"


@pytest.mark.parametrize("name", BOTS)
def test_each_replica_passes_the_platform_settings_through(name: str) -> None:
    env = environment(service(name))
    for variable in PASSTHROUGH:
        assert env.get(variable) == f"${{{variable}:-}}", variable


def test_the_replicas_listen_on_host_ports_3978_and_3979() -> None:
    published: set[int] = set()
    for name in BOTS:
        for port in service(name).get("ports", []):
            if isinstance(port, dict):
                host, container = int(port["published"]), int(port["target"])
            else:
                host, container = (int(part) for part in str(port).split(":")[-2:])
            assert container == PORT
            published.add(host)
    assert published == {3978, 3979}


def test_the_schema_is_upgraded_once_before_the_replicas_start() -> None:
    # The migrations take no lock; two replicas upgrading an empty database at once would race.
    first = depends_on(service(BOTS[0]))
    migrations = [
        name for name, condition in first.items() if condition == "service_completed_successfully"
    ]
    assert len(migrations) == 1, first
    migrate = service(migrations[0])
    assert built_from_the_dockerfile(migrate)
    assert migrate["command"] == ["whoowns", "db", "upgrade"]
    assert environment(migrate)["DATABASE_URL"] == environment(service(BOTS[0]))["DATABASE_URL"]
    assert depends_on(migrate).get(postgres()[0]) == "service_healthy"
    for name in BOTS:
        assert depends_on(service(name)).get(migrations[0]) == "service_completed_successfully"
