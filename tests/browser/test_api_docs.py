"""The API docs page (Swagger UI from the swagger-ui-bundle package) in Chromium: it draws the OpenAPI
document, loads nothing from another host, and leads back to the portal."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser


def test_the_api_docs_page_leads_back_to_the_portal_and_loads_nothing_from_elsewhere(chromium, live_server):
    page = chromium.new_page(viewport={"width": 1366, "height": 900})
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url)
            if request.url.startswith("http") and not request.url.startswith(live_server)
            else None
        ),
    )

    page.goto(f"{live_server}/api/v1/docs")

    back = page.locator(".information-container a", has_text="Back to the tiertrace portal")
    back.wait_for()
    # Swagger UI drew the document's operations and found nothing to complain about.
    assert page.locator(".opblock").count() > 5 and page.locator(".errors-wrapper").count() == 0
    tokens = page.locator(".information-container a", has_text="Settings → API tokens")
    assert tokens.get_attribute("href") == "/settings#tokens-title"
    back.click()
    page.wait_for_url(re.compile(r"/login$"))  # the portal's start page, for a visitor not signed in
    assert page.get_by_role("heading", name="Sign in to tiertrace").is_visible()
    assert elsewhere == []
    page.close()
