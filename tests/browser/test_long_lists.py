"""A supplier with many customers in Chromium: it pages through its inbox with the keyboard to the last
request, and finds in Notifications (counted in the menu until it opens them) the new requests, marked
"New", each a link to its request."""

from __future__ import annotations

import re

import pytest
from browser_helpers import log_in, person, screenshot

from tiertrace.disclosure.notifications import ensure_request_notification
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from tiertrace.pagination import PAGE_SIZE

pytestmark = pytest.mark.browser

REQUESTS = PAGE_SIZE + 30


@pytest.fixture
def refiner(make_org, session_factory):
    """A refiner asked about REQUESTS parts by two customers, notified of each; its person's email."""
    make_org("jinlu", name="Jinlu Gallium Refinery", country="CN")
    customers = [make_org("noordhaven", name="Noordhaven Naval"), make_org("lumen", name="Lumen Compound")]
    with session_factory() as session:
        for number in range(REQUESTS):
            requester = session.get(Organization, customers[number % 2].organization.id)
            item = create_request(
                session, requester, supplier_slug="jinlu", part_number=f"GA-7N-{number:03d}"
            )
            ensure_request_notification(session, item.id, now=item.created_at)
        session.commit()
        supplier_id = item.supplier_id
    return person(session_factory, supplier_id, "ops@jinlu.example")


def test_a_busy_supplier_reaches_every_request_and_its_notifications(chromium, live_server, refiner):
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    log_in(page, live_server, refiner)

    parts: list[str] = []
    while True:
        parts += page.locator("#inbox tbody td:nth-child(2) a").all_inner_texts()
        following = page.get_by_role("link", name="Next page →")
        if following.count() == 0:
            break
        following.focus()
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"cursor="))
    assert sorted(parts) == [f"GA-7N-{number:03d}" for number in range(REQUESTS)]
    assert parts[0] == "GA-7N-000"  # all due the same day: the oldest first
    assert page.get_by_role("link", name="← First page").get_attribute("href") == "/inbox?tab=todo"

    menu = page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("Notifications"))
    assert menu.inner_text().split() == ["Notifications", "99+", "new"]
    menu.click()
    page.wait_for_url(re.compile(r"/notifications$"))
    first = page.locator("#notifications tbody tr").first
    assert first.get_by_text("New", exact=True).is_visible()  # never looked: every one is new
    assert "New request from Lumen Compound for GA-7N-129" in first.inner_text()
    assert menu.inner_text().split() == ["Notifications"]  # the page marked them seen
    screenshot(page, "supplier-notifications")
    first.get_by_role("link", name="GA-7N-129").click()
    page.get_by_role("heading", name="Request for GA-7N-129").wait_for()
    context.close()
