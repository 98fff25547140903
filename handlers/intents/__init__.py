"""One module per intent; each exposes `register(router)`. `build_router` wires them in order."""

from __future__ import annotations

from handlers.intents import (
    assign,
    blockers,
    catalogue,
    cover,
    digest,
    escalate,
    escalation_status,
    groups,
    handover,
    help,
    history,
    overview,
    person_roles,
    projects,
    remove,
    review,
    role_info,
    undelivered,
    who_owns,
)
from handlers.router import Router

# Order matters: specific commands first; anything unclaimed is a question for the matcher.
FEATURES = (
    help,
    overview,
    projects,
    groups,
    catalogue,
    escalate,
    escalation_status,
    blockers,
    undelivered,
    review,
    digest,
    assign,
    remove,
    handover,
    cover,
    history,
    person_roles,
    role_info,
)


def build_router() -> Router:
    router = Router(who_owns.INTENT, who_owns.handle)
    for feature in FEATURES:
        feature.register(router)
    return router
