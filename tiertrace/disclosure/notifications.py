"""Notifications: what an organisation should learn of, listed in the portal and POSTed to its webhook.

A webhook delivery is a JSON POST of `webhook_body` signed with HMAC-SHA256 over the exact body bytes
(`sign_webhook`). The bookkeeping lives on the Notification row: `next_attempt_at` set means "queued",
`delivery_attempts` counts tries, `delivered_at` records success. Failed tries back off exponentially,
capped, and stop after `MAX_DELIVERY_ATTEMPTS`. The HTTP call itself is the worker's business.

Webhooks go to public internet addresses only (`public_addresses`): a URL whose host is, or resolves to,
a loopback, private, link-local or other non-global address is refused at registration, and the worker
checks again the addresses it connects to. `allow_private` (TIERTRACE_WEBHOOK_ALLOW_PRIVATE) lifts
the rule for deployments whose receivers are internal. The DNS lookup is the only IO here besides the
session.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from tiertrace.db import chunks, new_id
from tiertrace.disclosure.models import DisclosureRequest, Notification
from tiertrace.errors import RuleViolationError
from tiertrace.organizations.models import Organization, User
from tiertrace.pagination import PAGE_SIZE, Page, newest_first

log = logging.getLogger(__name__)

#: Notification kinds.
REQUEST_CREATED = "request.created"

SIGNATURE_HEADER = "X-Tiertrace-Signature"
TIMESTAMP_HEADER = "X-Tiertrace-Timestamp"
DELIVERY_HEADER = "X-Tiertrace-Delivery"

#: First retry after this long; every further failure doubles it, up to `RETRY_CAP`.
RETRY_BASE = timedelta(seconds=10)
RETRY_CAP = timedelta(hours=1)
#: After this many failed tries a notification is no longer POSTed (it stays listed in the portal).
MAX_DELIVERY_ATTEMPTS = 12
#: A claimed delivery is retried after this long if its worker died before recording the outcome.
DELIVERY_LEASE = timedelta(minutes=2)


def _insert_statement(insert: Any) -> Any:
    """The notifications' insert built with `insert`, a dialect's: a notification that exists already (the
    same request, organisation and kind: the unique index of migration 0008) is skipped, not an error.

    So a redelivery, or two workers at once, cannot make a second one: on PostgreSQL an insert that meets
    another transaction's uncommitted one waits for it, then skips; SQLite has one writer at a time.
    """
    return insert(Notification).on_conflict_do_nothing(
        index_elements=["request_id", "organization_id", "kind"]
    )


#: By dialect, built once (the notify consumer's CPU per message counts): the insert, and the insert
#: returning the notifications it made (those it skipped are not returned). render_nulls: the ORM would
#: otherwise leave out the NULLs, so rows with and without a queued webhook took a statement each.
_INSERT_NOTIFICATIONS = {
    "postgresql": _insert_statement(postgresql.insert),
    "sqlite": _insert_statement(sqlite.insert),
}
_INSERT_RETURNING = {
    name: insert.returning(Notification).execution_options(render_nulls=True)
    for name, insert in _INSERT_NOTIFICATIONS.items()
}


def _request_data(request: Mapping[str, Any], requester_slug: str) -> dict[str, Any]:
    """What a notification about a request says; `request` holds disclosure_requests' columns."""
    return {
        "request_id": request["id"],
        "requester": requester_slug,
        "part_number": request["part_number"],
        "program": request["program"],
        "due_date": request["due_date"].isoformat(),
        "parent_id": request["parent_id"],
    }


def request_data(request: DisclosureRequest) -> dict[str, Any]:
    """What a notification about `request` says (the requester by slug)."""
    return _request_data(_request_columns(request), request.requester.slug)


def _request_columns(request: DisclosureRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "supplier_id": request.supplier_id,
        "part_number": request.part_number,
        "program": request.program,
        "due_date": request.due_date,
        "parent_id": request.parent_id,
    }


def notify_new_requests(
    session: Session,
    requests: Sequence[Mapping[str, Any]],
    *,
    requester_slugs: Mapping[int, str],
    now: datetime,
) -> None:
    """Insert a "request.created" notification for the supplier of each of `requests` (one statement),
    skipping one that exists.

    `requests` are rows of disclosure_requests' columns, inserted already; `requester_slugs` maps their
    requesters' ids to slugs. No webhook is queued: the notify consumer does that when it handles the
    request's "request.created" event.
    """
    if not requests:
        return
    connection = session.connection()
    connection.execute(
        _INSERT_NOTIFICATIONS[connection.dialect.name],
        [
            _new_notification(request, requester_slugs[request["requester_id"]], REQUEST_CREATED, now=now)
            for request in requests
        ],
    )


def _new_notification(
    request: Mapping[str, Any], requester_slug: str, kind: str, *, now: datetime, webhook: bool = False
) -> dict[str, Any]:
    """The columns of a new notification of `kind` about `request` (disclosure_requests' columns) for its
    supplier, with its webhook delivery queued (`next_attempt_at = now`) when `webhook`."""
    return {
        "id": new_id(),
        "organization_id": request["supplier_id"],
        "kind": kind,
        "request_id": request["id"],
        "data": _request_data(request, requester_slug),
        "created_at": now,
        "delivered_at": None,
        "delivery_attempts": 0,
        "next_attempt_at": now if webhook else None,
    }


def ensure_request_notification(
    session: Session, request_id: str, *, kind: str = REQUEST_CREATED, now: datetime
) -> tuple[Notification | None, bool]:
    """The supplier's notification of `kind` about a request, created when missing; queue its webhook.

    Returns (notification, queued): `queued` is true when a webhook delivery was queued by this call.
    Returns (None, False) for a request that does not exist. Idempotent: a second call finds the
    notification and queues nothing again. Flushes.
    """
    return ensure_request_notifications(session, [request_id], kind=kind, now=now).get(
        request_id, (None, False)
    )


def ensure_request_notifications(
    session: Session, request_ids: Collection[str], *, kind: str = REQUEST_CREATED, now: datetime
) -> dict[str, tuple[Notification, bool]]:
    """`ensure_request_notification` for several requests, with one query per `chunks` of ids and one
    insert of the missing notifications: by request id, (notification, queued).

    The same as calling it for each id in turn; requests that do not exist are left out. Flushes once.
    """
    rows = _request_notifications(session, request_ids, kind)
    missing = [row for row in rows.values() if row[3] is None]
    created: dict[str | None, Notification] = {}
    if missing:
        insert = _INSERT_RETURNING[session.connection().dialect.name]
        new = [
            _new_notification(_request_columns(request), slug, kind, now=now, webhook=has_webhook)
            for request, slug, has_webhook, _ in missing
        ]
        created = {notification.request_id: notification for notification in session.scalars(insert, new)}
        # What the insert skipped, another transaction inserted since the query (a worker beside this
        # one): read it, and queue its webhook as for one that was there.
        skipped = [request.id for request, *_ in missing if request.id not in created]
        if skipped:
            rows.update(_request_notifications(session, skipped, kind))
    ensured: dict[str, tuple[Notification, bool]] = {}
    for request_id in request_ids:
        if request_id not in rows or request_id in ensured:
            continue
        _, _, has_webhook, found = rows[request_id]
        if request_id in created:
            ensured[request_id] = created[request_id], has_webhook
            continue
        assert found is not None  # there before, or read again after the insert skipped it
        queued = (
            has_webhook
            and found.delivered_at is None
            and found.next_attempt_at is None
            and found.delivery_attempts == 0
        )
        if queued:
            found.next_attempt_at = now
        ensured[request_id] = found, queued
    session.flush()
    return ensured


def _request_notifications(
    session: Session, request_ids: Collection[str], kind: str
) -> dict[str, tuple[DisclosureRequest, str, bool, Notification | None]]:
    """By request id (those that exist): the request, who asked, whether the supplier has a webhook and
    the supplier's notification of `kind` about it (None when missing); one query per `chunks` of ids."""
    return {
        request.id: (request, requester_slug, bool(has_webhook), notification)
        for chunk in chunks(request_ids)
        for request, requester_slug, has_webhook, notification in session.execute(
            _REQUEST_NOTIFICATIONS, {"request_ids": chunk, "kind": kind}
        )
    }


def _request_notifications_statement() -> Select[DisclosureRequest, str, bool, Notification]:
    """The requests "request_ids", each with who asked, whether the supplier has a webhook, and the
    supplier's notification of "kind" about it (None when missing: an outer join)."""
    requester, supplier = aliased(Organization), aliased(Organization)
    return (
        select(
            DisclosureRequest,
            requester.slug,
            supplier.webhook_url.is_not(None) & supplier.webhook_secret.is_not(None),
            Notification,
        )
        .join(requester, requester.id == DisclosureRequest.requester_id)
        .join(supplier, supplier.id == DisclosureRequest.supplier_id)
        .outerjoin(
            Notification,
            and_(
                Notification.request_id == DisclosureRequest.id,
                Notification.organization_id == DisclosureRequest.supplier_id,
                Notification.kind == bindparam("kind"),
            ),
        )
        .where(DisclosureRequest.id.in_(bindparam("request_ids", expanding=True)))
    )


#: Built once: building the aliased query per call cost the notify consumer about as much CPU as running it.
_REQUEST_NOTIFICATIONS = _request_notifications_statement()


class WebhookAddressError(RuleViolationError):
    """A webhook host that is, or resolves to, an address webhooks may not go to (or does not resolve)."""


#: NAT64's well-known prefix (RFC 6052): 64:ff9b::a.b.c.d reaches the IPv4 address a.b.c.d.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
#: Addresses that carry an IPv4 address in a form this check does not unwrap, or that are deprecated:
#: NAT64's local-use prefix (RFC 8215; where the IPv4 part sits is the network's choice) and the
#: IPv4-compatible ::a.b.c.d (RFC 4291), which Python counts as global.
_REFUSED_V6 = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("::/96"))


def is_public_address(address: str) -> bool:
    """Whether webhooks may go to the IP `address`: a global unicast address.

    Loopback, private (RFC 1918, fc00::/7), link-local (169.254.0.0/16, fe80::/10), shared (100.64.0.0/10),
    unspecified, documentation, reserved and multicast addresses are not. An IPv6 address that carries an
    IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by that IPv4 address: 64:ff9b::7f00:1 is loopback.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("%eth0") is no part of the address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif any(ip in network for network in _REFUSED_V6):
            return False
        else:
            ip = ip.ipv4_mapped or ip.sixtofour or ip
    return ip.is_global and not ip.is_multicast


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` (a name or an IP literal) resolves to, every one of them public.

    Raises WebhookAddressError when any address is not public or the name does not resolve: one answer
    for both, so that nobody learns from the portal how its internal names resolve. Its `details` say
    `host` and `problem`: "not_public" for an IP literal, "name_not_public" for a name.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        infos = []
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses or not all(is_public_address(address) for address in addresses):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise WebhookAddressError(
                f"{host} does not resolve to public addresses only",
                details={"host": host, "problem": "name_not_public"},
            ) from None
        raise WebhookAddressError(
            f"{host} is not a public address", details={"host": host, "problem": "not_public"}
        )
    return addresses


def _check_webhook_url(url: str, *, allow_private: bool) -> None:
    """Raise RuleViolationError unless `url` is an http(s) URL that webhooks may go to."""
    try:
        parsed = urlsplit(url)
        port = parsed.port  # ValueError unless a number in 0-65535
    except ValueError:
        parsed, port = None, None
    if (
        parsed is None
        or parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or len(url) > 500
        or not url.isprintable()
        or " " in url
    ):
        raise RuleViolationError(
            "not a webhook URL",
            details={"url": "an http:// or https:// URL without spaces, at most 500 characters"},
        )
    if allow_private:
        return
    try:
        public_addresses(parsed.hostname, port or (443 if parsed.scheme == "https" else 80))
    except WebhookAddressError as exc:
        raise WebhookAddressError(
            "webhooks go to public internet addresses only",
            details={
                "url": f"{exc.message}: loopback, private, link-local and other non-public addresses are "
                "refused, and so is a name that does not resolve",
                **exc.details,
            },
        ) from exc


def register_webhook(
    session: Session, organization: Organization, url: str | None, *, allow_private: bool = False
) -> str | None:
    """Set (or, with None, remove) the organisation's webhook URL; returns a new signing secret.

    The secret is generated here and shown once: the receiver keeps it to check X-Tiertrace-Signature.
    Raises RuleViolationError for a URL that is not http(s), and WebhookAddressError (one) for a host that
    is or resolves to a non-public address, or does not resolve, unless `allow_private`. A new URL takes
    over the deliveries still pending; removing the webhook drops them (they stay listed). Flushes.
    """
    if url is None:
        organization.webhook_url = None
        organization.webhook_secret = None
        session.execute(
            update(Notification)
            .where(
                Notification.organization_id == organization.id,
                Notification.delivered_at.is_(None),
                Notification.next_attempt_at.is_not(None),
            )
            .values(next_attempt_at=None)
        )
        session.flush()
        return None
    _check_webhook_url(url, allow_private=allow_private)
    secret = "whsec_" + secrets.token_urlsafe(32)
    organization.webhook_url = url
    organization.webhook_secret = secret
    session.flush()
    return secret


def url_for_log(url: str) -> str:
    """`scheme://host[:port]` of a webhook URL: no credentials, path or query, which may hold a token."""
    try:
        parsed = urlsplit(url)
        host = parsed.hostname or "?"
        port = f":{parsed.port}" if parsed.port else ""
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parsed.scheme}://{host}{port}"


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed try: 10 s, 20 s, 40 s, … capped at one hour."""
    if attempts < 1:
        return timedelta(0)
    # Cap the exponent before computing, so a large count cannot overflow timedelta.
    return min(RETRY_BASE * (2 ** min(attempts - 1, 20)), RETRY_CAP)


def webhook_body(notification: Notification, organization: Organization, *, sent_at: datetime) -> bytes:
    """The JSON bytes POSTed for a notification. `sent_at` is inside the signed body, against replays."""
    document = {
        "id": notification.id,
        "kind": notification.kind,
        "organization": organization.slug,
        "request_id": notification.request_id,
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
        "sent_at": sent_at.isoformat(),
        "attempt": notification.delivery_attempts,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")


def webhook_signature(secret: str, body: bytes) -> str:
    """``"sha256=<hex>"``: HMAC-SHA256 of the exact body bytes under the organisation's webhook secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign_webhook(secret: str, body: bytes, *, notification_id: str, sent_at: datetime) -> dict[str, str]:
    """The headers of a webhook POST: content type, signature, timestamp and delivery id."""
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: webhook_signature(secret, body),
        TIMESTAMP_HEADER: str(int(sent_at.timestamp())),
        DELIVERY_HEADER: notification_id,
    }


def verify_webhook_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the right signature of `body` (what a receiver does; constant-time)."""
    return header is not None and hmac.compare_digest(webhook_signature(secret, body), header)


@dataclass(frozen=True)
class WebhookDelivery:
    """One claimed POST, as plain values: the worker sends it outside any transaction."""

    notification_id: str
    url: str
    body: bytes
    headers: dict[str, str]
    attempt: int


def claim_due_deliveries(
    session: Session, *, now: datetime, limit: int = 20, busy_urls: Collection[str] = ()
) -> list[WebhookDelivery]:
    """Claim due deliveries, at most one per URL and none to `busy_urls`: count the attempt, lease them.

    `busy_urls` are the URLs the caller has a POST in flight to, so that a slow receiver holds up no
    other organisation's deliveries. Several workers may claim at once: rows are locked with SKIP LOCKED
    on PostgreSQL, and the lease (a `next_attempt_at` `DELIVERY_LEASE` ahead) keeps others off while the
    POST is in flight; if the worker dies, the lease runs out and the delivery is tried again. The caller
    commits before POSTing.
    """
    query = (
        select(Notification, Organization)
        .join(Organization, Organization.id == Notification.organization_id)
        .where(
            Notification.delivered_at.is_(None),
            Notification.next_attempt_at.is_not(None),
            Notification.next_attempt_at <= now,
            Organization.webhook_url.is_not(None),
            Organization.webhook_secret.is_not(None),
        )
        .order_by(Notification.next_attempt_at)
        .limit(limit)
        .with_for_update(of=Notification, skip_locked=True)
    )
    if busy_urls:
        query = query.where(Organization.webhook_url.not_in(list(busy_urls)))
    deliveries: dict[str, WebhookDelivery] = {}
    for notification, organization in session.execute(query).all():
        url, secret = organization.webhook_url, organization.webhook_secret
        assert url is not None and secret is not None
        if url in deliveries:
            continue  # left queued: the next claim takes it once this URL's POST is done
        notification.delivery_attempts += 1
        notification.next_attempt_at = now + DELIVERY_LEASE
        body = webhook_body(notification, organization, sent_at=now)
        deliveries[url] = WebhookDelivery(
            notification_id=notification.id,
            url=url,
            body=body,
            headers=sign_webhook(secret, body, notification_id=notification.id, sent_at=now),
            attempt=notification.delivery_attempts,
        )
    session.flush()
    return list(deliveries.values())


def record_delivery(
    session: Session, notification_id: str, *, ok: bool, now: datetime
) -> Notification | None:
    """Record the outcome of a POST: delivered, or the next try after a capped backoff, or given up.

    A failed delivery whose organisation removed its webhook meanwhile is dropped, not retried. Flushes.
    Returns the notification (None if it no longer exists).
    """
    notification = session.get(Notification, notification_id)
    if notification is None:
        return None
    if ok:
        notification.delivered_at = now
        notification.next_attempt_at = None
        session.flush()
        return notification
    organization = session.get(Organization, notification.organization_id)
    if organization is None or organization.webhook_url is None:
        notification.next_attempt_at = None  # the webhook was removed meanwhile: dropped
    elif notification.delivery_attempts >= MAX_DELIVERY_ATTEMPTS:
        notification.next_attempt_at = None  # given up; still listed, never POSTed again
        log.warning(
            "webhook delivery %s (%s) to %s given up after %d failed attempts",
            notification.id,
            notification.kind,
            organization.slug,
            notification.delivery_attempts,
        )
    else:
        notification.next_attempt_at = now + retry_delay(notification.delivery_attempts)
    session.flush()
    return notification


def list_notifications(
    session: Session, organization: Organization, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page[Notification]:
    """The organisation's notifications, newest first, a page at a time (`next` is the cursor).

    Raises RuleViolationError for a cursor that is not one this function returned.
    """
    query = select(Notification).where(Notification.organization_id == organization.id)
    return newest_first(session, query, Notification, cursor=cursor, limit=limit)


def count_new_notifications(session: Session, user: User, *, cap: int) -> int:
    """How many of the organisation's notifications are new to `user` (created after the newest one they
    have seen; all of them if they never looked), counted up to `cap` (one more means "more than `cap`").

    A menu's badge on every page: one statement, which reads the (organisation, created) index only.
    """
    new = select(Notification.created_at).where(Notification.organization_id == user.organization_id)
    if user.notifications_seen_at is not None:
        new = new.where(Notification.created_at > user.notifications_seen_at)
    return session.scalar(select(func.count()).select_from(new.limit(cap + 1).subquery())) or 0


def mark_notifications_seen(session: Session, user: User, *, up_to: datetime) -> None:
    """Record that `user` has seen the organisation's notifications created up to `up_to`: the newest one a
    page showed them, not the time of the page, so that one created while the page was made stays new.

    Never moves the mark back (an older page, or two tabs answered out of order): a conditional UPDATE,
    then `user.notifications_seen_at` is read back (another tab may have set a newer mark).
    """
    seen = User.notifications_seen_at
    session.execute(
        update(User)
        .where(User.id == user.id, or_(seen.is_(None), seen < up_to))
        .values(notifications_seen_at=up_to)
        .execution_options(synchronize_session=False)
    )
    session.refresh(user, ["notifications_seen_at"])
