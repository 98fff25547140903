"""Bot Framework models to and from JSON, read off the models' own attribute maps.

msrest's generic (de)serializer reads an incoming activity and writes every reply with a few layers
of dispatch per attribute; under load that was a quarter of a Teams turn's CPU (py-spy, about
0.9 ms a turn). The two functions here walk the same `_attribute_map`s directly for the types
botbuilder's schema uses, and give the same result as msrest (tests/test_teams_activity_json.py
compares them on the activities we send and receive, and on generated ones). Anything else they
do not handle (a value of an unexpected type, a binary field) is left to msrest, for the whole
model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any

from botbuilder.schema import Activity
from msrest.serialization import Deserializer, Model


class Unsupported(Exception):
    """A value these functions do not handle exactly as msrest does."""


@cache
def _models() -> dict[str, type[Model]]:
    return dict(Activity._infer_class_models())


@cache
def _keys(name: str) -> tuple[tuple[str, str, str], ...]:
    """(attribute, JSON key, type) of each attribute a model declares."""
    return tuple((a, d["key"], d["type"]) for a, d in _models()[name]._attribute_map.items())


@cache
def _known_keys(name: str) -> frozenset[str]:
    return frozenset(key for _, key, _ in _keys(name))


# --- reading ---------------------------------------------------------------------------------


def read_activity(body: dict[str, Any]) -> Activity:
    """The activity in a request body, as `Activity().deserialize(body)` gives it."""
    try:
        activity = read_model(Activity, body)
    except Unsupported:
        return Activity().deserialize(body)
    assert isinstance(activity, Activity)
    return activity


def read_model(model: type[Model], data: object) -> Model:
    """`data` as an instance of `model`, as msrest reads it; raises Unsupported otherwise."""
    if not isinstance(data, dict) or _models().get(model.__name__) is not model:
        raise Unsupported(model.__name__)
    if getattr(model, "_subtype_map", None):
        raise Unsupported(model.__name__)  # polymorphic: msrest picks the class from the data
    values = {}
    for attribute, key, kind in _keys(model.__name__):
        value = data.get(key)
        if value is not None:
            values[attribute] = _read(value, kind)
    found = model(**values)
    # Keys are matched exactly, as msrest's `Model.deserialize` does: Teams' "tenantId" is not
    # ConversationAccount's "tenantID" and is kept, like every other unknown key, aside.
    keys = _known_keys(model.__name__)
    extra = {k: v for k, v in data.items() if k not in keys}
    if extra:
        found.additional_properties = extra
    return found


def _read(value: object, kind: str) -> object:
    if kind == "object":
        return value
    if kind == "iso-8601" and isinstance(value, str):
        parsed = Deserializer.deserialize_iso(value)  # type: ignore[no-untyped-call]
        assert isinstance(parsed, datetime)
        return parsed
    if kind.startswith("[") and isinstance(value, list):
        return [_read(v, kind[1:-1]) for v in value]
    if kind.startswith("{") and isinstance(value, dict):
        return {k: _read(v, kind[1:-1]) for k, v in value.items()}
    model = _models().get(kind)
    if model is not None:
        return read_model(model, value)
    if _scalar(value, kind):
        return float(value) if kind == "float" else value  # type: ignore[arg-type]
    raise Unsupported(kind)


def _scalar(value: object, kind: str) -> bool:
    """A JSON value of the scalar type declared, read and written by msrest unchanged."""
    if isinstance(value, bool):
        return kind == "bool"
    if isinstance(value, int):
        return kind in ("int", "float")
    if isinstance(value, float):
        return kind == "float"
    return kind == "str" and isinstance(value, str)


# --- writing ---------------------------------------------------------------------------------


def write_model(model: Model) -> dict[str, Any]:
    """A model as msrest's `Serializer.body(model, …)` writes it; raises Unsupported otherwise."""
    name = type(model).__name__
    if _models().get(name) is not type(model):
        raise Unsupported(name)
    out: dict[str, Any] = {}
    for attribute, key, kind in _keys(name):
        value = getattr(model, attribute, None)
        if value is None:
            continue
        written = _write(value, kind)
        if written is not None:
            out[key] = written
    return out


def _write(value: object, kind: str) -> object:
    if kind == "object" and json_native(value):
        return value
    if kind == "str" and isinstance(value, Enum):
        return value.value
    if kind == "iso-8601" and isinstance(value, datetime) and value.tzinfo is not None:
        return _write_time(value)
    if kind.startswith("[") and isinstance(value, list):
        return [_write(v, kind[1:-1]) for v in value]
    if kind in _models() and isinstance(value, Model):
        # msrest writes any model by its own attribute map, whatever the declared type (a Mention
        # in `entities`, declared as [Entity], keeps its fields).
        return write_model(value)
    if _scalar(value, kind):
        return float(value) if kind == "float" else value  # type: ignore[arg-type]
    raise Unsupported(kind)


def _write_time(value: datetime) -> str:
    at = value.astimezone(UTC)
    fraction = str(at.microsecond).rjust(6, "0").rstrip("0").ljust(3, "0")
    return at.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


_JSON_SCALARS = (str, int, float, bool, type(None))


def json_native(value: object) -> bool:
    """Plain JSON (an Adaptive Card, channel data), which msrest copies as it is."""
    if isinstance(value, _JSON_SCALARS):
        return True
    if type(value) is dict:
        return all(type(k) is str and json_native(v) for k, v in value.items())
    if type(value) is list:
        return all(json_native(v) for v in value)
    return False
