"""The delivery worker: sends the outbox's notifications on their platform, until each arrives once.

Each replica runs one. It claims due rows (a lease, see `store.outbox`), hands each to its
platform's `Deliverer`, and records the outcome:

- sent: the platform's reference is kept; if the store cannot be told right away (it is down), the
  worker keeps the mark in memory and writes it as soon as the store is back, before it claims more;
- refused for good (`Undeliverable`: no such user, nowhere to reach them): marked failed at once,
  for admins to see (`whoowns outbox`, App Home);
- failed otherwise (rate limit, server error, timeout): due again after a backoff that doubles up
  to `max_backoff`, until `give_up_after` from when it was written; then marked failed.

A Slack deliverer checks before sending again whether an earlier attempt's message is there (it
carries the row's id as message metadata), so a retry after an unknown outcome is not a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from handlers.message import Notification, line
from handlers.turn import utc_now
from store import outbox
from store.db import Database, StoreUnavailable
from store.outbox import OutboxRecord, Outgoing

log = logging.getLogger(__name__)


class Undeliverable(Exception):
    """The platform will never take this notification (an unknown user, nowhere to reach them)."""


class Deliverer(Protocol):
    async def send(self, message: OutboxRecord, notification: Notification) -> str | None:
        """Deliver one notification; the platform's reference to what was sent (if it gives one).

        Raises `Undeliverable` when retrying cannot help, anything else when it may."""
        ...


@dataclass(frozen=True)
class DeliveryPolicy:
    # A claimed row comes back after this long if its replica never said how the send went.
    lease: timedelta = timedelta(minutes=2)
    first_backoff: timedelta = timedelta(seconds=2)
    max_backoff: timedelta = timedelta(minutes=5)
    give_up_after: timedelta = timedelta(hours=24)
    # How often the worker looks for rows other replicas wrote or whose backoff has passed; rows
    # written on this replica wake it at once.
    poll: float = 2.0
    batch: int = 20

    def backoff(self, attempts: int) -> timedelta:
        return min(self.max_backoff, self.first_backoff * (1 << max(attempts - 1, 0)))


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        deliverers: Mapping[str, Deliverer],
        policy: DeliveryPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.deliverers = dict(deliverers)
        self.policy = policy or DeliveryPolicy()
        self.clock = clock
        self._wake = asyncio.Event()
        # Sent, but not yet recorded as sent: row id -> (the platform's reference, when).
        self._unrecorded: dict[int, tuple[str | None, datetime]] = {}

    def wake(self) -> None:
        """Rows were written (on this replica): look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled; a store outage is logged and waited out."""
        while True:
            try:
                busy = await self.deliver_due() >= self.policy.batch
            except StoreUnavailable:
                log.warning("outbox: store unavailable; retrying in %.0f s", self.policy.poll)
                busy = False
            except Exception:
                log.exception("outbox: delivery pass failed")
                busy = False
            if busy:
                continue  # more may be due: no wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.poll)
            self._wake.clear()

    async def deliver_due(self) -> int:
        """One pass: record what was sent while the store was away, then claim and send what is
        due. Returns how many rows it claimed."""
        await self._record_unrecorded()
        if not self.deliverers:
            return 0
        claimed = await outbox.claim_due(
            self.db,
            self.clock(),
            platforms=sorted(self.deliverers),
            lease=self.policy.lease,
            limit=self.policy.batch,
        )
        fresh = [m for m in claimed if m.id not in self._unrecorded]
        await asyncio.gather(*(self._deliver(message) for message in fresh))
        return len(claimed)

    async def _deliver(self, message: OutboxRecord) -> None:
        deliverer = self.deliverers[message.platform]
        note = Notification.from_payload(
            message.recipient, message.recipient_name, message.payload, message.fallback_channel
        )
        try:
            ref = await deliverer.send(message, note)
        except Undeliverable as refused:
            log.warning(
                "outbox: #%d to %s undeliverable: %s", message.id, message.recipient, refused
            )
            report = _report(note, str(refused))
            await self._settle(
                outbox.give_up(self.db, message.id, str(refused), report=report, when=self.clock())
            )
            return
        except Exception as error:
            await self._failed(message, error)
            return
        await self._record_sent(message.id, ref, self.clock())

    async def _failed(self, message: OutboxRecord, error: Exception) -> None:
        now = self.clock()
        reason = f"{type(error).__name__}: {error}"
        if now - message.created_at >= self.policy.give_up_after:
            log.error("outbox: #%d to %s given up: %s", message.id, message.recipient, reason)
            await self._settle(outbox.give_up(self.db, message.id, reason))
            return
        due = now + self.policy.backoff(message.attempts)
        log.warning(
            "outbox: #%d to %s failed (attempt %d, %s); again at %s",
            message.id,
            message.recipient,
            message.attempts,
            reason,
            due.isoformat(timespec="seconds"),
        )
        # If the store cannot take this, the lease brings the row back anyway.
        await self._settle(outbox.retry_later(self.db, message.id, reason, due))

    async def _record_sent(self, message_id: int, ref: str | None, when: datetime) -> bool:
        """Mark a row sent; while the store is away, remember the mark for the next pass."""
        try:
            await outbox.mark_sent(self.db, message_id, ref, when)
        except StoreUnavailable:
            log.warning("outbox: #%d sent; the store will be told when it is back", message_id)
            self._unrecorded[message_id] = (ref, when)
            return False
        self._unrecorded.pop(message_id, None)
        return True

    async def _record_unrecorded(self) -> None:
        for message_id, (ref, when) in list(self._unrecorded.items()):
            if not await self._record_sent(message_id, ref, when):
                return

    @staticmethod
    async def _settle(write: Awaitable[None]) -> None:
        try:
            await write
        except StoreUnavailable:
            log.warning("outbox: store unavailable; the row's lease will bring it back")


def _report(note: Notification, refused: str) -> Outgoing | None:
    """The notice to whoever asked for something the platform refused for good (who linked a
    user group): what could not be done, and the platform's reason."""
    if not note.report_to:
        return None
    what = note.body[0] if note.body else line(note.text)
    told = Notification(
        note.report_to,
        note.report_to,
        (line("I could not do this: ", what), line(refused)),
    )
    return Outgoing(told.user_id, told.name, told.payload())
