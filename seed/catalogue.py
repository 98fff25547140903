"""The catalogue as data: roles, their aliases, responsibilities and keywords, and the escalation chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

DEFAULT_ESCALATION_CHAIN = ("Scrum Master", "Project Manager", "Project Lead")


class CatalogueError(ValueError):
    """A catalogue file that cannot be read; the message names the line where it can."""

    def __init__(self, message: str, line: int | None = None, source: str = "") -> None:
        where = f"{source or 'input'}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}")
        self.line = line


@dataclass(frozen=True)
class ResponsibilitySpec:
    text: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleSpec:
    name: str
    responsibilities: tuple[ResponsibilitySpec, ...]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogueSpec:
    roles: tuple[RoleSpec, ...]
    escalation_chain: tuple[str, ...] = field(default=DEFAULT_ESCALATION_CHAIN)

    def role(self, name: str) -> RoleSpec | None:
        return next((r for r in self.roles if r.name.casefold() == name.casefold()), None)


@lru_cache(maxsize=1)
def default_catalogue() -> CatalogueSpec:
    """The shipped catalogue, parsed once (about 0.3 s of YAML): it is immutable."""
    text = resources.files("seed").joinpath("default_catalogue.yaml").read_text(encoding="utf-8")
    return parse_catalogue_yaml(text, source="default_catalogue.yaml")


def fold_space(value: Any) -> str:
    """A name or text as people type it: white space (of any kind) folded to single spaces."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def _strings(value: Any, what: str, line: int | None, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(fold_space(v) for v in value):
        raise CatalogueError(f"{what} must be a list of non-empty strings", line, source)
    return tuple(fold_space(v) for v in value)


class _LineLoader(yaml.SafeLoader):
    """A safe loader that records the line of each mapping, so errors can name it."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)
# Dates stay text (`until` is read by us, with a clear error): YAML's own timestamps raise plain
# ValueErrors on "2001-13-45" that name no line.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise CatalogueError(f"not valid YAML ({exc.problem})", line, source) from exc
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, at a position
        line = text.count("\n", 0, exc.position) + 1
        raise CatalogueError(f"not valid YAML ({exc.reason})", line, source) from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"not valid YAML ({exc})", None, source) from exc
    except (ValueError, RecursionError) as exc:  # an odd scalar; nesting too deep to read
        raise CatalogueError(f"not valid YAML ({exc.__class__.__name__})", 1, source) from exc


def parse_catalogue_yaml(text: str, source: str = "") -> CatalogueSpec:
    data = load_yaml(text, source)
    if not isinstance(data, dict) or not isinstance(data.get("roles"), list):
        raise CatalogueError("expected a mapping with a `roles:` list", 1, source)
    return catalogue_from_data(data, source)


def catalogue_from_data(data: dict[str, Any], source: str) -> CatalogueSpec:
    roles: list[RoleSpec] = []
    seen: set[str] = set()
    for raw in data["roles"]:
        # A role that is not a mapping has no line of its own: name the catalogue's.
        line = raw.get("__line__") if isinstance(raw, dict) else data.get("__line__")
        if not isinstance(raw, dict) or not fold_space(raw.get("name")):
            raise CatalogueError("each role needs a `name`", line, source)
        name = fold_space(raw["name"])
        if name.casefold() in seen:
            raise CatalogueError(f"role {name!r} appears twice", line, source)
        seen.add(name.casefold())
        responsibilities = []
        listed = raw.get("responsibilities") or []
        if not isinstance(listed, list):
            raise CatalogueError(f"the responsibilities of {name!r} must be a list", line, source)
        for item in listed:
            item_line = item.get("__line__", line) if isinstance(item, dict) else line
            if isinstance(item, str):
                item = {"text": item}
            if not isinstance(item, dict) or not fold_space(item.get("text")):
                raise CatalogueError(
                    f"a responsibility of {name!r} needs a `text`", item_line, source
                )
            keywords = _strings(item.get("keywords"), "keywords", item_line, source)
            responsibilities.append(ResponsibilitySpec(fold_space(item["text"]), keywords))
        aliases = _strings(raw.get("aliases"), "aliases", line, source)
        roles.append(RoleSpec(name, tuple(responsibilities), aliases))
    if not roles:
        raise CatalogueError("the catalogue has no roles", 1, source)
    chain = _strings(data.get("escalation_chain"), "escalation_chain", 1, source)
    return CatalogueSpec(tuple(roles), chain or DEFAULT_ESCALATION_CHAIN)


def catalogue_to_data(spec: CatalogueSpec) -> dict[str, Any]:
    return {
        "escalation_chain": list(spec.escalation_chain),
        "roles": [
            {
                "name": role.name,
                "aliases": list(role.aliases),
                "responsibilities": [
                    {"text": r.text, "keywords": list(r.keywords)} for r in role.responsibilities
                ],
            }
            for role in spec.roles
        ],
    }
