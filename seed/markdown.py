"""Reads a roles document in markdown, in either of the two shapes wikis use.

Roles as bold bullets, responsibilities as bullets nested under them:

    * **Data Scientist:**
        * Feature engineering
        * Manage Data Drift

or roles as headings, each followed by its responsibilities as bullets:

    ## Data Scientist
    - Feature engineering
    - Manage Data Drift

A document with a bold-bullet role is read the first way. Otherwise every heading with bullets under
it is a role, and headings with only prose (the title, an introduction) are skipped. Front matter and
prose paragraphs are skipped; anything else that breaks the shape is an error that names its line,
and nothing is imported.
"""

from __future__ import annotations

import re

from seed.catalogue import CatalogueError, CatalogueSpec, ResponsibilitySpec, RoleSpec

_BULLET = re.compile(r"^(?P<indent>[ \t]*)[*+-][ \t]+(?P<text>.*?)\s*$")
_HEADING = re.compile(r"^#{1,6}[ \t]+(?P<name>.*?)[ \t#]*$")
_BOLD_ROLE = re.compile(r"^(?:\*\*|__)(?P<name>.+?)(?:\*\*|__)\s*:?\s*(?P<rest>.*)$")


def _indent_width(indent: str) -> int:
    return len(indent.replace("\t", "    "))


def _clean_name(name: str) -> str:
    return " ".join(name.strip().rstrip(":").split())


def _body_lines(text: str) -> list[tuple[int, str]]:
    """Numbered lines after any front matter."""
    lines = list(enumerate(text.splitlines(), start=1))
    if lines and lines[0][1].strip() == "---":
        closing = next((i for i, (_, raw) in enumerate(lines[1:], 1) if raw.strip() == "---"), None)
        return lines[closing + 1 :] if closing is not None else []
    return lines


def _has_bold_roles(text: str) -> bool:
    for _, raw in _body_lines(text):
        bullet = _BULLET.match(raw)
        if bullet and _BOLD_ROLE.match(bullet["text"]):
            return True
    return False


def _parse_heading_roles(text: str, source: str) -> CatalogueSpec:
    roles: list[tuple[str, list[ResponsibilitySpec], int]] = []
    heading: tuple[str, int] | None = None
    for number, raw in _body_lines(text):
        found = _HEADING.match(raw)
        if found:
            heading = (_clean_name(found["name"].strip("*_ ")), number)
            continue
        bullet = _BULLET.match(raw)
        if bullet is None:
            if raw.strip() and raw.startswith((" ", "\t")) and roles and roles[-1][1]:
                last = roles[-1][1][-1]
                roles[-1][1][-1] = ResponsibilitySpec(f"{last.text} {' '.join(raw.split())}")
            continue
        if heading is None:
            continue  # a list before the first heading is prose
        name, line_number = heading
        if not roles or roles[-1][2] != line_number:
            if not name:
                raise CatalogueError("a role needs a name", line_number, source)
            if any(existing.casefold() == name.casefold() for existing, _, _ in roles):
                raise CatalogueError(f"role {name!r} appears twice", line_number, source)
            roles.append((name, [], line_number))
        responsibility = " ".join(bullet["text"].split())
        if not responsibility:
            raise CatalogueError("an empty responsibility", number, source)
        roles[-1][1].append(ResponsibilitySpec(responsibility))
    if not roles:
        raise CatalogueError(
            "no roles found (roles are bold bullets, `* **Name:**`, or headings, `## Name`, "
            "with bulleted responsibilities)",
            None,
            source,
        )
    return CatalogueSpec(tuple(RoleSpec(name, tuple(rs)) for name, rs, _ in roles))


def _parse_roles_markdown(text: str, source: str = "") -> CatalogueSpec:
    roles: list[tuple[str, list[ResponsibilitySpec], int]] = []
    role_indent: int | None = None
    in_front_matter = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if number == 1 and raw.strip() == "---":
            in_front_matter = True
            continue
        if in_front_matter:
            in_front_matter = raw.strip() != "---"
            continue
        bullet = _BULLET.match(raw)
        if bullet is None:
            if raw.strip() and roles and raw.startswith((" ", "\t")):
                # A wrapped line continues the item above it, as markdown reads it.
                if not roles[-1][1]:
                    raise CatalogueError("expected a bulleted responsibility", number, source)
                last = roles[-1][1][-1]
                roles[-1][1][-1] = ResponsibilitySpec(f"{last.text} {' '.join(raw.split())}")
            continue
        indent = _indent_width(bullet["indent"])
        item = bullet["text"]
        bold = _BOLD_ROLE.match(item)
        if role_indent is None or indent <= role_indent:
            if bold is None:
                if roles:
                    raise CatalogueError(
                        "expected a role as a bold bullet, like `* **Tester:**`", number, source
                    )
                continue  # a plain list before the roles start is prose
            name = _clean_name(bold["name"])
            if not name:
                raise CatalogueError("a role needs a name", number, source)
            if any(existing.casefold() == name.casefold() for existing, _, _ in roles):
                raise CatalogueError(f"role {name!r} appears twice", number, source)
            role_indent = indent
            roles.append((name, [], number))
            continue
        responsibility = " ".join(item.split())
        if not responsibility:
            raise CatalogueError("an empty responsibility", number, source)
        roles[-1][1].append(ResponsibilitySpec(responsibility))
    if not roles:
        raise CatalogueError("no roles found (roles are bold bullets: `* **Name:**`)", None, source)
    for name, responsibilities, number in roles:
        if not responsibilities:
            raise CatalogueError(f"role {name!r} has no responsibilities", number, source)
    return CatalogueSpec(tuple(RoleSpec(name, tuple(rs)) for name, rs, _ in roles))


def parse_roles_markdown(text: str, source: str = "") -> CatalogueSpec:
    """The roles of a markdown document; a `CatalogueError` naming the line when it cannot be read."""
    text = text.replace("\x00", "")
    if _has_bold_roles(text):
        return _parse_roles_markdown(text, source)
    return _parse_heading_roles(text, source)
