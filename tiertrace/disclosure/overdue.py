"""The overdue sweep: open requests past their due date become overdue, reminded, then escalated.

The timeline of one request, with `due_date` D and `settings.escalation_grace_days` G (UTC dates):

* on D the request is still open (the supplier has the whole due day);
* from D + 1 the sweep marks it `overdue` (sets `overdue_at`, records the "request.overdue" outbox event
  so the merge consumer turns the gap from "open" into "overdue") and reminds the supplier
  (Notification kind "reminder", sets `reminded_at`);
* from D + G + 1, if it is still overdue, the sweep escalates it to the requester (Notification kind
  "escalation", sets `escalated_at`).

A declaration or a decline ends the timeline (the request is no longer open or overdue). Every step is
guarded by the request's own columns, so a second sweep at the same clock changes nothing, and rows are
claimed with SKIP LOCKED on PostgreSQL, so two workers sweeping at once never remind twice. The worker
calls `run_overdue_sweep` on a schedule; tests call it with a controllable `now`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tiertrace.disclosure.models import DisclosureRequest, Notification
from tiertrace.disclosure.notifications import request_data
from tiertrace.organizations.models import Organization
from tiertrace.outbox.services import record_event

#: Notification kinds written by the sweep.
REMINDER = "reminder"
ESCALATION = "escalation"
#: Requests handled per query; a sweep loops until none is left.
BATCH = 500


class OverdueSettings(Protocol):
    """The part of `tiertrace.config.Settings` the sweep reads."""

    # A read-only member, so the frozen Settings dataclass satisfies the protocol.
    @property
    def escalation_grace_days(self) -> int: ...


@dataclass
class SweepResult:
    """Ids of the requests each step touched in one sweep."""

    overdue: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    #: Notifications whose webhook delivery was queued: the caller wakes the webhook sender after commit.
    webhooks_queued: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.overdue or self.reminded or self.escalated)


def run_overdue_sweep(session: Session, now: datetime, settings: OverdueSettings) -> SweepResult:
    """Mark open requests past their due date overdue, remind their suppliers, escalate after the grace.

    Flushes the changed requests, a "request.overdue" outbox event per request newly overdue and the
    "reminder" (to the supplier) and "escalation" (to the requester) notifications, with a webhook
    delivery queued for organisations that registered one. Idempotent: running it again at the same
    `now` changes nothing. Never commits; the caller commits and then wakes the webhook sender when
    `webhooks_queued` is non-zero.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    today = now.date()
    grace = settings.escalation_grace_days
    result = SweepResult()
    webhooks = _WebhookTargets(session)

    # Open past due: mark overdue and remind. The due date filter is in SQL so the index does the work.
    for request in _claimed(session, DisclosureRequest.status == "open", DisclosureRequest.due_date < today):
        request.status = "overdue"
        request.overdue_at = now
        record_event(session, "request.overdue", {"request_id": request.id})
        result.overdue.append(request.id)

    # Overdue and not yet reminded (newly overdue ones, and any marked overdue by an older sweep).
    for request in _claimed(
        session, DisclosureRequest.status == "overdue", DisclosureRequest.reminded_at.is_(None)
    ):
        request.reminded_at = now
        result.webhooks_queued += _notify(
            session, request, request.supplier_id, REMINDER, now, webhooks.has(request.supplier_id)
        )
        result.reminded.append(request.id)

    # Overdue beyond the grace and not yet escalated.
    for request in _claimed(
        session,
        DisclosureRequest.status == "overdue",
        DisclosureRequest.escalated_at.is_(None),
        DisclosureRequest.due_date < today - timedelta(days=grace),
    ):
        request.escalated_at = now
        result.webhooks_queued += _notify(
            session, request, request.requester_id, ESCALATION, now, webhooks.has(request.requester_id)
        )
        result.escalated.append(request.id)
    return result


def _claimed(session: Session, *conditions: Any) -> Iterator[DisclosureRequest]:
    """Every request matching `conditions`, claimed BATCH at a time and locked against a concurrent sweep.

    The caller changes each request so that it no longer matches (it sets the column a condition filters
    on); the batch is flushed before the next one is claimed, so nothing comes back. SKIP LOCKED: rows
    another sweep holds are left to it. SQLite ignores the clause; its writers are serialised.
    """
    while batch := list(
        session.scalars(
            select(DisclosureRequest)
            .where(*conditions)
            .order_by(DisclosureRequest.due_date, DisclosureRequest.id)
            .limit(BATCH)
            .with_for_update(of=DisclosureRequest, skip_locked=True)
        )
    ):
        yield from batch
        session.flush()


class _WebhookTargets:
    """Which organisations registered a webhook, looked up once each per sweep."""

    def __init__(self, session: Session):
        self.session = session
        self.known: dict[int, bool] = {}

    def has(self, organization_id: int) -> bool:
        if organization_id not in self.known:
            organization = self.session.get(Organization, organization_id)
            self.known[organization_id] = bool(
                organization is not None and organization.webhook_url and organization.webhook_secret
            )
        return self.known[organization_id]


def _notify(
    session: Session,
    request: DisclosureRequest,
    organization_id: int,
    kind: str,
    now: datetime,
    webhook: bool,
) -> int:
    """Add a notification of `kind` about `request` for `organization_id`; 1 when a webhook is queued."""
    session.add(
        Notification(
            organization_id=organization_id,
            kind=kind,
            request_id=request.id,
            data=_data(request),
            created_at=now,
            next_attempt_at=now if webhook else None,
        )
    )
    return 1 if webhook else 0


def _data(request: DisclosureRequest) -> dict[str, Any]:
    """A reminder's or an escalation's data: the request's, with its supplier and since when it is overdue."""
    return {
        **request_data(request),
        "supplier": request.supplier.slug,
        "overdue_at": request.overdue_at.isoformat() if request.overdue_at else None,
    }
