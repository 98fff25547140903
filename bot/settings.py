"""Configuration: one typed object read from the environment and checked at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bot.delivery import DeliveryPolicy
from bot.slack.adapter import BOT_SCOPES, SlackConfig, SlackOAuth
from bot.teams.adapter import TeamsConfig
from handlers.matching.registry import PHRASE_BUDGET, WORKSPACES_KEPT
from handlers.turn import MANAGING_ROLES, HandlerConfig
from seed.catalogue import CatalogueError, CatalogueSpec
from seed.markdown import parse_roles_markdown
from seed.transfer import parse_team_file
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


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc
    if value < 1:
        raise SettingsError(f"{name} must be at least 1")
    return value


def _names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in env.get(name, "").split(",") if n.strip())


def _new_catalogue(env: Mapping[str, str]) -> CatalogueSpec | None:
    """WHOOWNS_CATALOG: what a new workspace starts with — default, empty, or a roles document
    (markdown) or catalogue file (YAML/CSV) by path."""
    value = env.get("WHOOWNS_CATALOG", "").strip()
    if value in ("", "default"):
        return None
    if value == "empty":
        return CatalogueSpec(roles=(), escalation_chain=())
    path = Path(value)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"WHOOWNS_CATALOG: cannot read {value}: {exc}") from exc
    try:
        if path.suffix.lower() in (".md", ".markdown"):
            return parse_roles_markdown(text, source=value)
        return parse_team_file(text, source=value).catalogue
    except CatalogueError as exc:
        raise SettingsError(f"WHOOWNS_CATALOG: {exc}") from exc


def _log_format(env: Mapping[str, str]) -> str | None:
    value = env.get("LOG_FORMAT", "").strip().lower() or None
    if value not in (None, "json", "text"):
        raise SettingsError(f"LOG_FORMAT must be json or text, not {value!r}")
    return value


def _schema(env: Mapping[str, str], url: str) -> str | None:
    schema = env.get("WHOOWNS_DATABASE_SCHEMA", "").strip() or None
    if schema is None:
        return None
    if url.startswith("sqlite"):
        raise SettingsError("WHOOWNS_DATABASE_SCHEMA is for PostgreSQL; SQLite has no schemas")
    if not schema.replace("_", "").isalnum():
        raise SettingsError("WHOOWNS_DATABASE_SCHEMA may hold only letters, digits and _")
    return schema


def _teams(env: Mapping[str, str]) -> TeamsConfig:
    """The Bot Framework's usual settings (MicrosoftAppId, …); no app id means unauthenticated."""
    app_id = env.get("MicrosoftAppId", "").strip()
    password = env.get("MicrosoftAppPassword", "").strip()
    app_type = env.get("MicrosoftAppType", "").strip() or "MultiTenant"
    tenant = env.get("MicrosoftAppTenantId", "").strip()
    if app_type not in ("MultiTenant", "SingleTenant", "UserAssignedMSI"):
        raise SettingsError("MicrosoftAppType must be MultiTenant, SingleTenant or UserAssignedMSI")
    if app_id and app_type != "UserAssignedMSI" and not password:
        raise SettingsError("MicrosoftAppId is set but MicrosoftAppPassword is not")
    if app_type != "MultiTenant" and not tenant:
        raise SettingsError(f"MicrosoftAppType {app_type} needs MicrosoftAppTenantId")
    return TeamsConfig(app_id, password, app_type, tenant)


def _slack_oauth(env: Mapping[str, str]) -> SlackOAuth | None:
    """SLACK_CLIENT_ID and SLACK_CLIENT_SECRET: installs on any number of workspaces by OAuth."""
    client_id = env.get("SLACK_CLIENT_ID", "").strip()
    client_secret = env.get("SLACK_CLIENT_SECRET", "").strip()
    if not client_id and not client_secret:
        return None
    if not client_id or not client_secret:
        missing = "SLACK_CLIENT_SECRET" if client_id else "SLACK_CLIENT_ID"
        raise SettingsError(
            f"Slack installs need both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET; {missing} is not set"
        )
    scopes = _names(env, "SLACK_SCOPES") or BOT_SCOPES
    redirect_uri = env.get("SLACK_REDIRECT_URI", "").strip() or None
    if redirect_uri is not None and not redirect_uri.startswith("https://"):
        raise SettingsError(f"SLACK_REDIRECT_URI must be an https URL, not {redirect_uri!r}")
    return SlackOAuth(client_id, client_secret, scopes, redirect_uri)


def _slack(env: Mapping[str, str]) -> SlackConfig | None:
    """One workspace (SLACK_BOT_TOKEN) or many (SLACK_CLIENT_ID/SECRET); the signing secret
    either way."""
    secret = env.get("SLACK_SIGNING_SECRET", "").strip()
    token = env.get("SLACK_BOT_TOKEN", "").strip()
    app_token = env.get("SLACK_APP_TOKEN", "").strip() or None
    oauth = _slack_oauth(env)
    if oauth is not None and token:
        raise SettingsError(
            "set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET "
            "(installs on many workspaces), not both"
        )
    credential = "SLACK_CLIENT_ID" if oauth is not None else "SLACK_BOT_TOKEN"
    if not secret and not token and oauth is None:
        if app_token:
            raise SettingsError(
                "SLACK_APP_TOKEN needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET too"
            )
        return None
    if not secret:
        raise SettingsError(f"Slack needs SLACK_SIGNING_SECRET with {credential}; it is not set")
    if oauth is None and not token:
        raise SettingsError(
            "Slack needs SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET (installs on many) with SLACK_SIGNING_SECRET"
        )
    if token and not token.startswith("xoxb-"):
        raise SettingsError("SLACK_BOT_TOKEN must be a bot token (xoxb-…)")
    if app_token and not app_token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN must be an app-level token (xapp-…)")
    api_url = env.get("SLACK_API_URL", "").strip() or "https://slack.com/api/"
    if not api_url.startswith(("http://", "https://")):
        raise SettingsError(f"SLACK_API_URL must be an http(s) URL, not {api_url!r}")
    return SlackConfig(secret, token or None, app_token, api_url.rstrip("/") + "/", oauth=oauth)


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)  # may hold a password
    # PostgreSQL only: keep whoowns' tables in this schema (several deployments on one database).
    database_schema: str | None = None
    admins: frozenset[str] = field(default_factory=frozenset)
    remind_after: timedelta = timedelta(minutes=60)
    # How often the server looks for due reminders.
    reminder_interval: float = 30.0
    # How often the server runs the ownership review and the digest (each workspace is done at most
    # hourly, and its digest weekly, by one replica).
    review_interval: float = 300.0
    log_level: str = "WARNING"
    # "json" (one object per line, for log collectors) or "text"; None: json for the server, text
    # for the command line.
    log_format: str | None = None
    slack: SlackConfig | None = None
    teams: TeamsConfig = field(default_factory=TeamsConfig)
    new_catalogue: CatalogueSpec | None = None
    # Roles whose holders manage the team (assign anyone, edit the catalogue): WHOOWNS_MANAGING_ROLES.
    managing_roles: tuple[str, ...] = MANAGING_ROLES
    # How the outbox's notifications are retried: WHOOWNS_OUTBOX_GIVE_UP_MINUTES bounds how long,
    # WHOOWNS_OUTBOX_LEASE_MINUTES is how soon a row a dead replica had claimed is sent again.
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    # What one replica keeps of many workspaces' matchers (see handlers/matching/registry.py).
    workspaces_kept: int = WORKSPACES_KEPT
    matcher_phrases: int = PHRASE_BUDGET

    @property
    def slack_mode(self) -> str:
        if self.slack is None:
            return "disabled"
        transport = "socket mode" if self.slack.app_token else "http"
        return f"{transport}, installs by oauth" if self.slack.oauth else transport

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
            reminder_interval=_minutes(env, "WHOOWNS_REMINDER_CHECK_MINUTES", 0.5).total_seconds(),
            log_level=level,
            log_format=_log_format(env),
            slack=_slack(env),
            teams=_teams(env),
            database_schema=_schema(env, url),
            new_catalogue=_new_catalogue(env),
            managing_roles=_names(env, "WHOOWNS_MANAGING_ROLES") or MANAGING_ROLES,
            delivery=DeliveryPolicy(
                lease=_minutes(env, "WHOOWNS_OUTBOX_LEASE_MINUTES", 2),
                give_up_after=_minutes(env, "WHOOWNS_OUTBOX_GIVE_UP_MINUTES", 24 * 60),
            ),
            workspaces_kept=_count(env, "WHOOWNS_WORKSPACES_KEPT", WORKSPACES_KEPT),
            matcher_phrases=_count(env, "WHOOWNS_MATCHER_PHRASES", PHRASE_BUDGET),
        )

    def handler_config(self) -> HandlerConfig:
        return HandlerConfig(
            admins=self.admins,
            remind_after=self.remind_after,
            new_catalogue=self.new_catalogue,
            managing_roles=self.managing_roles,
        )
