"""Buttons that act on a role, shared by the intents that offer them (my roles, the review's ask).
A button that needs more than a click (whom to hand over to, until when) opens the matching form
where the platform has forms, with the role and project filled in; elsewhere its command says what
to type."""

from __future__ import annotations

from handlers.message import Action


def _where(role: str, project: str | None) -> tuple[tuple[str, str], ...]:
    return (("role", role), ("project", project)) if project else (("role", role),)


def handover_action(role: str, project: str | None = None) -> Action:
    return Action(
        f"Hand over {role}", f"hand over {role}", form="handover", values=_where(role, project)
    )


def cover_action(role: str, project: str | None = None) -> Action:
    return Action(
        f"Set cover for {role}", f"set cover for {role}", form="cover", values=_where(role, project)
    )
