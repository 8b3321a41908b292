"""Scheduled jobs of the bus: the overdue sweep (mark overdue, remind, escalate) every few minutes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from tiertrace.db import utcnow
from tiertrace.disclosure.overdue import OverdueSettings, run_overdue_sweep
from worker.handlers import describe_error, is_transient

log = logging.getLogger(__name__)


class OverdueScheduler:
    """A background thread that runs `run_overdue_sweep` every `interval` seconds, one transaction each.

    Several workers may run it at once: the sweep is idempotent and, on PostgreSQL, skips rows another
    sweep holds locked.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: OverdueSettings,
        *,
        interval: float,
        on_webhooks_queued: Callable[[], None] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.interval = interval
        self.on_webhooks_queued = on_webhooks_queued
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        """One sweep at the current time; errors are logged, the next tick tries again.

        A database outage is one WARNING line, as on the bus's other threads; anything else (a bug)
        gets its traceback.
        """
        try:
            with self.session_factory() as session, session.begin():
                result = run_overdue_sweep(session, utcnow(), self.settings)
            if result.webhooks_queued and self.on_webhooks_queued is not None:
                self.on_webhooks_queued()
        except Exception as exc:
            if not is_transient(exc):
                log.exception("the overdue sweep failed; it runs again in %s s", self.interval)
                return
            log.warning(
                "the overdue sweep failed (%s); it runs again in %s s", describe_error(exc), self.interval
            )

    def start(self) -> OverdueScheduler:
        self._thread = threading.Thread(target=self._run, name="overdue-sweep", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        # The first sweep runs at start, so a portal that was down over a due date catches up at once.
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)
