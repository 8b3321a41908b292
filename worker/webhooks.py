"""Webhook delivery: POST queued notifications to the organisations' URLs, outside every consumer.

The notify handler only queues (sets `next_attempt_at`); this sender claims due deliveries in a short
transaction, POSTs them with no transaction open, and records the outcome in another. A slow or dead
receiver therefore never holds a bus message or a database lock, and a crash mid-POST only means the
lease runs out and the delivery is tried again (receivers deduplicate on X-Tiertrace-Delivery).

POSTs run in up to `concurrency` threads with at most one in flight per URL, and each POST has a total
deadline (connecting, sending, and the status line and headers of the answer, however slowly they
trickle in), so a receiver that never answers, or answers a byte at a time, costs its own organisation
that deadline per try and nobody else anything. The POST threads are daemons and a stop waits for them
no longer than the deadline (and a moment to record the outcome): a POST in flight never keeps a
stopping process alive. A POST goes only to public addresses, checked on the addresses actually
connected to (a name may resolve elsewhere than it did at registration), unless the deployment allows
private ones; redirects are not followed.
"""

from __future__ import annotations

import http.client
import io
import logging
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING
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

if TYPE_CHECKING:
    from http.client import _DataType

    from _typeshed import WriteableBuffer

log = logging.getLogger(__name__)

#: POST(url, body, headers, timeout): returns when the receiver answered 2xx within `timeout` seconds in
#: all, else raises (DeliveryError).
Poster = Callable[[str, bytes, dict[str, str], float], None]

#: How long a stop waits, beyond the POST deadline, for the outcome of the POSTs in flight to be recorded;
#: one not recorded by then is tried again once its lease runs out.
RECORD_GRACE = 2.0


class DeliveryError(Exception):
    """A POST that did not get a 2xx answer; the message says why (no credentials, path or query in it)."""


class _Deadline:
    """A point in time, `seconds` from now, by which a POST must be over."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        """The seconds left; raises TimeoutError once there are none."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left


class _DeadlineReader(socket.SocketIO):
    """Reads the answer from the socket with its timeout set to the time left before each read: a receiver
    that sends one byte at a time cannot stretch a POST past its deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__(sock, "rb")
        self._socket = sock
        self._deadline = deadline

    def readinto(self, b: WriteableBuffer) -> int | None:
        self._socket.settimeout(self._deadline.remaining())
        return super().readinto(b)


class _DeadlineResponse(http.client.HTTPResponse):
    """An answer whose every read is bounded by the POST's deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__(sock, method="POST")
        self.fp.close()  # the plain reader made above: nothing read from it yet
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline))


class _HTTPConnection(http.client.HTTPConnection):
    """Connects only when every address the host resolves to is public, unless `allow_private`; every
    step (connecting, the TLS handshake, sending) is bounded by the time left before `deadline`."""

    allow_private = False
    deadline: _Deadline

    def connect(self) -> None:
        if self.allow_private:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        else:
            infos = [  # IP literals: looked up at once
                info
                for address in public_addresses(self.host, self.port)  # raises for a non-public one
                for info in socket.getaddrinfo(address, self.port, type=socket.SOCK_STREAM)
            ]
        error: OSError | None = None
        for family, kind, protocol, _, address in infos:
            sock = socket.socket(family, kind, protocol)
            try:
                sock.settimeout(self.deadline.remaining())
                sock.connect(address)
            except OSError as exc:  # TimeoutError included: then every next address fails at once
                sock.close()
                error = exc
                continue
            self.sock = sock
            break
        else:
            raise error or OSError(f"{self.host} resolves to no address")
        # What is left for the TLS handshake (one bounded call) or the first send.
        self.sock.settimeout(self.deadline.remaining())

    def send(self, data: _DataType | str) -> None:
        if self.sock is not None:
            self.sock.settimeout(self.deadline.remaining())
        super().send(data)

    def read_response(self) -> http.client.HTTPResponse:
        """The status line and headers of the answer to the request sent, read within the deadline."""
        response = _DeadlineResponse(self.sock, self.deadline)
        response.begin()
        return response


class _HTTPSConnection(http.client.HTTPSConnection, _HTTPConnection):
    """The same over TLS: the certificate is checked against the host name, as usual."""


def post_json(
    url: str, body: bytes, headers: dict[str, str], timeout: float, *, allow_private: bool = False
) -> None:
    """POST `body` to `url`; returns on a 2xx answer, raises DeliveryError otherwise.

    `timeout` is a deadline for the whole POST: connecting, sending, and reading the status line and the
    headers of the answer (its body is not read), however slowly the receiver sends them. Looking the
    host name up is left to the system's resolver and its own timeouts. Any answer other than 2xx fails,
    3xx included (redirects are not followed), and so does a host that is or resolves to a non-public
    address unless `allow_private`.
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
    connection.deadline = _Deadline(timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.connect()
        connection.request("POST", target, body=body, headers=headers)
        status = connection.read_response().status
    except TimeoutError:
        raise DeliveryError(f"no complete answer within {timeout:g} s") from None
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

    `post` replaces the HTTP call (tests); by default it is `post_json` with `allow_private`. `timeout` is
    each POST's deadline; up to `concurrency` POSTs are in flight, each in a daemon thread of its own.
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
        self._busy: set[str] = set()  # URLs with a POST in flight from here
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified whenever a POST ends
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
            # A daemon: a POST thread that outlives a stop (its record of the outcome hangs) does not
            # keep the process alive; the delivery's lease runs out and it is tried again.
            threading.Thread(
                target=self._deliver, args=(delivery,), name="bus-webhook-post", daemon=True
            ).start()
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
                self._idle.notify_all()
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
        """Send until `stop()` (which waits for the POSTs in flight); database outages are logged and
        retried at the next poll."""
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

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="bus-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Start no more POSTs and wait for those in flight and their outcome's record, but no longer than
        `timeout` seconds (by default the POST deadline and RECORD_GRACE): a POST ends by its deadline,
        and one whose outcome is not recorded by then is tried again once its lease runs out."""
        stop_by = time.monotonic() + (self.timeout + RECORD_GRACE if timeout is None else timeout)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, stop_by - time.monotonic()))
        with self._idle:
            self._idle.wait_for(lambda: not self._busy, max(0.0, stop_by - time.monotonic()))
