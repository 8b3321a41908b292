"""Webhook delivery: POST queued notifications to the organisations' URLs, outside every consumer.

The notify handler only queues (sets `next_attempt_at`); this sender claims due deliveries in a short
transaction, POSTs them with no transaction open, and records the outcome in another. A slow or dead
receiver therefore never holds a bus message or a database lock, and a crash mid-POST only means the
lease runs out and the delivery is tried again (receivers deduplicate on X-Tiertrace-Delivery).

POSTs run in a small thread pool with at most one in flight per URL, so a receiver that never answers
costs its own organisation a timeout per try and nobody else anything. A POST goes only to public
addresses, checked on the addresses actually connected to (a name may resolve elsewhere than it did
at registration), unless the deployment allows private ones; redirects are not followed.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from tiertrace.db import utcnow
from tiertrace.disclosure.notifications import (
    MAX_DELIVERY_ATTEMPTS,
    WebhookAddressError,
    WebhookDelivery,
    claim_due_deliveries,
    public_addresses,
    record_delivery,
    url_for_log,
)
from worker.handlers import describe_error, is_transient

log = logging.getLogger(__name__)

#: POST(url, body, headers, timeout): returns when the receiver answered 2xx, else raises (DeliveryError).
Poster = Callable[[str, bytes, dict[str, str], float], None]


class DeliveryError(Exception):
    """A POST that did not get a 2xx answer; the message says why (no credentials, path or query in it)."""


class _HTTPConnection(http.client.HTTPConnection):
    """Connects only when every address the host resolves to is public, unless `allow_private`."""

    allow_private = False

    def connect(self) -> None:
        if self.allow_private:
            super().connect()
            return
        error: OSError | None = None
        for address in public_addresses(self.host, self.port):  # raises for a non-public one
            try:
                self.sock = socket.create_connection((address, self.port), self.timeout)
                return
            except OSError as exc:
                error = exc
        assert error is not None
        raise error


class _HTTPSConnection(http.client.HTTPSConnection, _HTTPConnection):
    """The same over TLS: the certificate is checked against the host name, as usual."""


def post_json(
    url: str, body: bytes, headers: dict[str, str], timeout: float, *, allow_private: bool = False
) -> None:
    """POST `body` to `url`; returns on a 2xx answer, raises DeliveryError otherwise.

    Any other answer fails, 3xx included (redirects are not followed), and so does a host that is or
    resolves to a non-public address unless `allow_private`.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DeliveryError("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError("not an http(s) URL")
    connection_class = _HTTPSConnection if parts.scheme == "https" else _HTTPConnection
    connection = connection_class(parts.hostname, port, timeout=timeout)
    connection.allow_private = allow_private
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        status = connection.getresponse().status
    except WebhookAddressError as exc:
        raise DeliveryError(exc.message) from None
    except http.client.InvalidURL:
        raise DeliveryError("not a valid URL") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
    if 300 <= status < 400:
        raise DeliveryError(f"answered {status}; redirects are not followed")
    if not 200 <= status < 300:
        raise DeliveryError(f"answered {status}")


class WebhookSender:
    """A background thread that sends due webhook deliveries; `wake()` makes it look right away.

    `post` replaces the HTTP call (tests); by default it is `post_json` with `allow_private`.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        post: Poster | None = None,
        allow_private: bool = False,
        poll_interval: float = 5.0,
        timeout: float = 5.0,
        concurrency: int = 8,
    ) -> None:
        self.session_factory = session_factory
        self.post = post or partial(post_json, allow_private=allow_private)
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.concurrency = concurrency
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="bus-webhook-post")
        self._busy: set[str] = set()  # URLs with a POST in flight from here
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Look for due deliveries now (called once a transaction that queued one has committed)."""
        self._wake.set()

    def send_due(self) -> int:
        """Claim due deliveries for the free POST slots and start them; returns how many were started.

        At most one POST per URL is in flight: a URL with one is left out of the claim.
        """
        with self._lock:
            busy = set(self._busy)
        free = self.concurrency - len(busy)
        if free <= 0:
            return 0
        with self.session_factory() as session, session.begin():
            deliveries = claim_due_deliveries(session, now=utcnow(), limit=free, busy_urls=busy)
        with self._lock:
            self._busy.update(delivery.url for delivery in deliveries)
        for delivery in deliveries:
            self._pool.submit(self._deliver, delivery)
        return len(deliveries)

    def _deliver(self, delivery: WebhookDelivery) -> None:
        """POST one delivery and record the outcome; a failure to record leaves it to the lease."""
        try:
            ok = self._post(delivery)
            with self.session_factory() as session, session.begin():
                record_delivery(session, delivery.notification_id, ok=ok, now=utcnow())
        except Exception as exc:  # the database is away: the lease runs out and the delivery is retried
            log.warning(
                "webhook delivery %s: recording the outcome failed: %s", delivery.notification_id, exc
            )
        finally:
            with self._lock:
                self._busy.discard(delivery.url)
            self._wake.set()  # the URL is free again: it may have more due

    def _post(self, delivery: WebhookDelivery) -> bool:
        where = (delivery.notification_id, delivery.attempt, MAX_DELIVERY_ATTEMPTS, url_for_log(delivery.url))
        try:
            self.post(delivery.url, delivery.body, delivery.headers, self.timeout)
            return True
        except DeliveryError as exc:
            log.warning("webhook POST of delivery %s (attempt %d of %d) to %s failed: %s", *where, exc)
        except Exception:
            log.exception("webhook POST of delivery %s (attempt %d of %d) to %s failed", *where)
        return False

    def run(self) -> None:
        """Send until `stop()`, then wait for the POSTs in flight; database outages are logged and retried
        at the next poll."""
        while not self._stop.is_set():
            # Cleared before the pass, so that a wake-up arriving during it is not lost.
            self._wake.clear()
            try:
                started = self.send_due()
            except Exception as exc:
                if is_transient(exc):
                    log.warning("webhook pass failed: %s", describe_error(exc))
                else:
                    log.exception("webhook pass failed")
                started = 0
            if not started:
                self._wake.wait(self.poll_interval)
        self._pool.shutdown(wait=True)

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="bus-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the POSTs in flight."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
