"""Helpers for the web page tests: reading CSRF tokens and field errors off pages, signing in."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: A list page's link to its next page, and the links to requests on it.
NEXT_PAGE = re.compile(r'<a href="([^"]+)" rel="next">')
REQUEST_LINK = re.compile(r'href="/requests/([0-9a-f-]{36})"')


@dataclass
class Person:
    """Someone with a web account of a test organisation (`member` has its token and signing key)."""

    email: str
    password: str
    member: Any


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


def page_csrf(client: Any, path: str = "/login") -> str:
    """GET `path` and return its CSRF token (the session's)."""
    answer = client.get(path)
    assert answer.status_code == 200, answer.status_code
    return csrf_of(answer.get_data(as_text=True))


def log_in(client: Any, person: Person, password: str | None = None) -> Any:
    """Sign `person` in through the login form; returns the answer."""
    token = page_csrf(client, "/login")
    return client.post(
        "/login",
        data={"email": person.email, "password": password or person.password, "csrf_token": token},
    )


def field_error(html: str, field_id: str) -> str | None:
    """The error text shown next to the field `field_id`, or None."""
    match = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    if match is None:
        return None
    return re.sub(r"<[^>]+>", "", match.group(1)).replace("Error:", "").strip()


def walk(client: Any, path: str | None) -> list[list[str]]:
    """Follow "Next page" from `path` to the last page; the request ids of each page, in page order."""
    pages = []
    while path is not None:
        answer = client.get(path)
        assert answer.status_code == 200, path
        page = answer.get_data(as_text=True)
        pages.append(REQUEST_LINK.findall(page))
        following = NEXT_PAGE.search(page)
        path = html.unescape(following.group(1)) if following else None
    return pages
