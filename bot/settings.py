"""Configuration: one typed object read from the environment and checked at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from handlers.turn import HandlerConfig
from store.db import DEFAULT_DATABASE_URL, normalise_url


class SettingsError(ValueError):
    """A setting that cannot be used; the message says which and why."""


def _minutes(env: Mapping[str, str], name: str, default: float) -> timedelta:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return timedelta(minutes=default)
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number of minutes, not {raw!r}") from exc
    if value <= 0:
        raise SettingsError(f"{name} must be more than 0 minutes")
    return timedelta(minutes=value)


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    admins: frozenset[str] = field(default_factory=frozenset)
    remind_after: timedelta = timedelta(minutes=60)
    log_level: str = "WARNING"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        try:
            url = normalise_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
        except Exception as exc:
            raise SettingsError(f"DATABASE_URL is not a database URL: {exc}") from exc
        admins = frozenset(a.strip() for a in env.get("WHOOWNS_ADMINS", "").split(",") if a.strip())
        level = (env.get("LOG_LEVEL") or "WARNING").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
        return cls(
            database_url=url,
            admins=admins,
            remind_after=_minutes(env, "WHOOWNS_REMIND_AFTER_MINUTES", 60),
            log_level=level,
        )

    def handler_config(self) -> HandlerConfig:
        return HandlerConfig(admins=self.admins, remind_after=self.remind_after)
