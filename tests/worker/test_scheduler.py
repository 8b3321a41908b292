"""The bus runs the overdue sweep on its own."""

from __future__ import annotations

import time
from datetime import timedelta

from tiertrace.db import utcnow
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from worker.embedded import start_embedded_bus


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
