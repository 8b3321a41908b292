"""Webhook delivery: POST queued notifications to the organisations' URLs, outside every consumer.

The notify handler only queues (sets `next_attempt_at`); this sender claims due deliveries in a short
transaction, POSTs them with no transaction open, and records the outcome in another. A slow or dead
receiver therefore never holds a bus message or a database lock, and a crash mid-POST only means the
lease runs out and the delivery is tried again (receivers deduplicate on X-Tiertrace-Delivery).
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from tiertrace.db import utcnow
from tiertrace.disclosure.notifications import WebhookDelivery, claim_due_deliveries, record_delivery
from worker.handlers import is_transient

log = logging.getLogger(__name__)

#: POST(url, body, headers, timeout) -> True when the receiver answered 2xx.
Poster = Callable[[str, bytes, dict[str, str], float], bool]


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> bool:
    """POST `body` to `url`; True on a 2xx answer, False on any other answer or a network error."""
    if not url.startswith(("http://", "https://")):
        log.warning("webhook URL %r is not http(s); not posting", url)
        return False
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.info("webhook POST to %s failed: %s", url, exc)
        return False


class WebhookSender:
    """A background thread that sends due webhook deliveries; `wake()` makes it look right away."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        post: Poster = post_json,
        poll_interval: float = 5.0,
        timeout: float = 5.0,
        batch: int = 20,
    ) -> None:
        self.session_factory = session_factory
        self.post = post
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.batch = batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Look for due deliveries now (called once a transaction that queued one has committed)."""
        self._wake.set()

    def send_due(self) -> int:
        """Claim, POST and record one batch of due deliveries; returns how many were attempted."""
        with self.session_factory() as session, session.begin():
            deliveries = claim_due_deliveries(session, now=utcnow(), limit=self.batch)
        for delivery in deliveries:
            ok = self._post(delivery)
            with self.session_factory() as session, session.begin():
                record_delivery(session, delivery.notification_id, ok=ok, now=utcnow())
        return len(deliveries)

    def _post(self, delivery: WebhookDelivery) -> bool:
        try:
            return self.post(delivery.url, delivery.body, delivery.headers, self.timeout)
        except Exception:
            log.exception("webhook poster failed on %s", delivery.notification_id)
            return False

    def run(self) -> None:
        """Send until `stop()`; database outages are logged and retried at the next poll."""
        while not self._stop.is_set():
            # Cleared before the pass, so that a wake-up arriving during it is not lost.
            self._wake.clear()
            try:
                sent = self.send_due()
            except Exception as exc:
                if is_transient(exc):
                    log.warning("webhook pass failed: %s", exc)
                else:
                    log.exception("webhook pass failed")
                sent = 0
            if sent < self.batch:
                self._wake.wait(self.poll_interval)

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="bus-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the POST in flight."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
