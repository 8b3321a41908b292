"""Helpers for the browser tests: people who sign in, and where screenshots and downloads go."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tiertrace.organizations.accounts import accept_invite, create_user
from tiertrace.organizations.models import Organization

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
#: The committed walkthrough screenshots are rewritten only when asked (or missing), so that a test run
#: does not leave the work tree changed with new dates in the pictures.
UPDATE_DOCS = os.environ.get("TIERTRACE_UPDATE_SCREENSHOTS") == "1"

PASSWORD = "correct horse battery staple"


def person(session_factory: Any, organization_id: int, email: str) -> str:
    """A person of the organisation with PASSWORD, invited and signed up; their email."""
    with session_factory() as session:
        invitation = create_user(session, session.get(Organization, organization_id), email)
        accept_invite(session, invitation.token, PASSWORD)
        session.commit()
    return email


def log_in(page: Any, base: str, email: str) -> None:
    """Sign `email` in through the login form; returns on the page the portal lands them on."""
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/(inbox|audit|settings)$"))


def screenshot(
    page: Any, name: str, *, docs: bool = False, top: bool = False, full_page: bool = False
) -> None:
    """Save a screenshot of what the page shows to test-artifacts/, and with `docs` to docs/screenshots/
    too when TIERTRACE_UPDATE_SCREENSHOTS=1 or the file is not there yet.

    `top` scrolls to the top of the page first; `full_page` takes the whole page (artifacts only: the
    committed screenshots stay one screen each, to keep them small).
    """
    ARTIFACTS.mkdir(exist_ok=True)
    if top:
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
    if docs and (UPDATE_DOCS or not (SCREENSHOTS / f"{name}.png").exists()):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
