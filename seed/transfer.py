"""The export/import file: a workspace's catalogue plus who holds what, as YAML or CSV.

YAML:
    catalogue: {escalation_chain: [...], roles: [...]}      # as in default_catalogue.yaml
    assignments:
      - {project: default, role: Tester, user: alice, name: Alice, kind: primary, until: null}

CSV (one record per row; lists joined with ";"):
    record,project,role,text,keywords,user,name,kind,until
    role,,Tester,,qa;test engineer,,,,
    responsibility,,Tester,Integration testing,integration tests;uat,,,,
    assignment,default,Tester,,,alice,Alice,primary,
    escalation_chain,,,Scrum Master;Project Manager;Project Lead,,,,,
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from seed.catalogue import (
    DEFAULT_ESCALATION_CHAIN,
    CatalogueError,
    CatalogueSpec,
    ResponsibilitySpec,
    RoleSpec,
    catalogue_from_data,
    catalogue_to_data,
    fold_space,
    load_yaml,
)

KINDS = ("primary", "backup", "cover")
CSV_COLUMNS = ("record", "project", "role", "text", "keywords", "user", "name", "kind", "until")


@dataclass(frozen=True)
class AssignmentSpec:
    project: str
    role: str
    user: str
    name: str | None = None
    kind: str = "primary"
    until: datetime | None = None
    line: int | None = None


@dataclass(frozen=True)
class TeamFile:
    catalogue: CatalogueSpec
    assignments: tuple[AssignmentSpec, ...] = ()


def _parse_until(value: Any, line: int | None, source: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise CatalogueError(f"`until` is not a date: {value!r}", line, source) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _assignment(raw: dict[str, Any], line: int | None, source: str) -> AssignmentSpec:
    role = fold_space(raw.get("role"))
    # "@alice" is how people write a user; a role's name is taken as written, "@" and all.
    user = fold_space(fold_space(raw.get("user")).lstrip("@"))
    for required, value in (("role", role), ("user", user)):
        if not value:
            raise CatalogueError(f"an assignment needs `{required}`", line, source)
    kind = str(raw.get("kind") or "primary").strip().lower()
    if kind not in KINDS:
        raise CatalogueError(
            f"`kind` must be one of {', '.join(KINDS)}, not {kind!r}", line, source
        )
    until = _parse_until(raw.get("until"), line, source)
    if kind == "cover" and until is None:
        raise CatalogueError("a cover needs `until`", line, source)
    return AssignmentSpec(
        project=fold_space(raw.get("project")) or "default",
        role=role,
        user=user,
        name=fold_space(raw.get("name")) or None,
        kind=kind,
        until=until,
        line=line,
    )


def _check_roles(team: TeamFile, source: str) -> TeamFile:
    known = {r.name.casefold() for r in team.catalogue.roles}
    for a in team.assignments:
        if a.role.casefold() not in known:
            raise CatalogueError(f"assignment names an unknown role {a.role!r}", a.line, source)
    return team


def parse_yaml(text: str, source: str = "") -> TeamFile:
    data = load_yaml(text, source)
    if not isinstance(data, dict) or not isinstance(data.get("catalogue"), dict):
        raise CatalogueError(
            "expected a mapping with `catalogue:` (and optional `assignments:`)", 1, source
        )
    catalogue_data = data["catalogue"]
    if not isinstance(catalogue_data.get("roles"), list):
        raise CatalogueError(
            "`catalogue:` needs a `roles:` list", catalogue_data.get("__line__"), source
        )
    spec = catalogue_from_data(catalogue_data, source)
    raw_assignments = data.get("assignments") or []
    if not isinstance(raw_assignments, list):
        raise CatalogueError("`assignments:` must be a list", data.get("__line__"), source)
    assignments = []
    for raw in raw_assignments:
        if not isinstance(raw, dict):
            raise CatalogueError("each assignment must be a mapping", data.get("__line__"), source)
        assignments.append(_assignment(raw, raw.get("__line__"), source))
    return _check_roles(TeamFile(spec, tuple(assignments)), source)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(fold_space(part) for part in (value or "").split(";") if fold_space(part))


def parse_csv(text: str, source: str = "") -> TeamFile:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or tuple(reader.fieldnames) != CSV_COLUMNS:
        raise CatalogueError(f"the header must be: {','.join(CSV_COLUMNS)}", 1, source)
    roles: dict[str, tuple[str, list[str], list[ResponsibilitySpec]]] = {}
    assignments: list[AssignmentSpec] = []
    chain: tuple[str, ...] = DEFAULT_ESCALATION_CHAIN
    for row in reader:
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):
            raise CatalogueError("wrong number of columns", line, source)
        record = row["record"].strip()
        role_name = fold_space(row["role"])
        if record in ("role", "responsibility") and not role_name:
            raise CatalogueError(f"a {record} row needs `role`", line, source)
        if record == "role":
            entry = roles.setdefault(role_name.casefold(), (role_name, [], []))
            entry[1].extend(_split(row["keywords"]))
        elif record == "responsibility":
            if not fold_space(row["text"]):
                raise CatalogueError("a responsibility row needs `text`", line, source)
            entry = roles.setdefault(role_name.casefold(), (role_name, [], []))
            entry[2].append(ResponsibilitySpec(fold_space(row["text"]), _split(row["keywords"])))
        elif record == "assignment":
            assignments.append(_assignment(dict(row), line, source))
        elif record == "escalation_chain":
            chain = _split(row["text"]) or DEFAULT_ESCALATION_CHAIN
        else:
            raise CatalogueError(f"unknown record type {record!r}", line, source)
    if not roles:
        raise CatalogueError("the file has no roles", None, source)
    spec = CatalogueSpec(
        tuple(RoleSpec(name, tuple(rs), tuple(aliases)) for name, aliases, rs in roles.values()),
        chain,
    )
    return _check_roles(TeamFile(spec, tuple(assignments)), source)


def parse_team_file(text: str, source: str = "") -> TeamFile:
    """YAML or CSV, told apart by the CSV header."""
    try:
        if text.lstrip("\ufeff").startswith("record,"):
            return parse_csv(text.lstrip("\ufeff"), source)
        return parse_yaml(text, source)
    except csv.Error as exc:
        raise CatalogueError(f"not valid CSV ({exc})", None, source) from exc


def _assignment_data(a: AssignmentSpec) -> dict[str, Any]:
    return {
        "project": a.project,
        "role": a.role,
        "user": a.user,
        "name": a.name,
        "kind": a.kind,
        "until": a.until.isoformat() if a.until else None,
    }


def to_yaml(team: TeamFile) -> str:
    data = {
        "catalogue": catalogue_to_data(team.catalogue),
        "assignments": [_assignment_data(a) for a in team.assignments],
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def to_csv(team: TeamFile) -> str:
    out = io.StringIO()
    # CRLF, as the CSV standard has it: the writer then quotes any field holding a line break.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerow(
        ["escalation_chain", "", "", ";".join(team.catalogue.escalation_chain), "", "", "", "", ""]
    )
    for role in team.catalogue.roles:
        writer.writerow(["role", "", role.name, "", ";".join(role.aliases), "", "", "", ""])
        for r in role.responsibilities:
            writer.writerow(
                ["responsibility", "", role.name, r.text, ";".join(r.keywords), "", "", "", ""]
            )
    for a in team.assignments:
        d = _assignment_data(a)
        writer.writerow(
            [
                "assignment",
                d["project"],
                d["role"],
                "",
                "",
                d["user"],
                d["name"] or "",
                d["kind"],
                d["until"] or "",
            ]
        )
    return out.getvalue()
