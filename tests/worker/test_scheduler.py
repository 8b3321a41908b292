"""The bus runs the overdue sweep on its own."""

from __future__ import annotations

import logging
import socket
import time
from datetime import timedelta

from tiertrace.db import make_engine, make_session_factory, utcnow
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from worker.embedded import start_embedded_bus
from worker.scheduler import OverdueScheduler


def test_the_embedded_bus_marks_a_request_overdue_without_being_asked(settings, session_factory, make_org):
    oem, _ = make_org("oem"), make_org("lumen")
    past = utcnow() - timedelta(days=30)
    with session_factory() as session:
        request = create_request(
            session,
            session.get(Organization, oem.organization.id),
            supplier_slug="lumen",
            part_number="P-1",
            due_date=(past + timedelta(days=5)).date(),
            now=past,
        )
        session.commit()
    bus = start_embedded_bus(
        settings, session_factory, poll_interval=0.2, webhooks=False, overdue_interval=0.2
    )
    try:
        deadline = time.monotonic() + 20
        status = "open"
        while status != "overdue" and time.monotonic() < deadline:
            time.sleep(0.2)
            with session_factory() as session:
                status = session.get(DisclosureRequest, request.id).status
        bus.drain(30)
    finally:
        bus.stop()
    assert status == "overdue"


def test_a_sweep_during_a_database_outage_logs_one_warning_without_a_traceback(settings, caplog):
    """Before, the sweep logged a full traceback at ERROR while every other thread logged one WARNING."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(f"postgresql://tiertrace:hunter2@127.0.0.1:{port}/tiertrace", pre_ping=False)
    try:
        OverdueScheduler(make_session_factory(engine), settings, interval=300).run_once()
    finally:
        engine.dispose()
    [line] = caplog.records
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert "the overdue sweep failed (OperationalError: " in line.getMessage()
    assert "it runs again in 300 s" in line.getMessage()


def test_a_sweep_that_fails_on_a_bug_keeps_its_traceback(session_factory, settings, caplog, monkeypatch):
    import worker.scheduler

    def broken(*_args):
        raise ValueError("bug")

    monkeypatch.setattr(worker.scheduler, "run_overdue_sweep", broken)
    OverdueScheduler(session_factory, settings, interval=300).run_once()
    [line] = caplog.records
    assert line.levelno == logging.ERROR and line.exc_info is not None
