"""A company's notifications: new requests addressed to it, reminders of those it left overdue,
escalations of those its suppliers left overdue (the same list as GET /api/v1/notifications).

What is new is per person (`users.notifications_seen_at`): the menu counts the notifications created
after the newest one the person has seen, and opening the page marks what it shows as seen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import render_template, request
from werkzeug.exceptions import BadRequest

from portal.db import db_session
from portal.web.base import BROKEN_PAGE_LINK, bp, current_org, current_user, login_required
from tiertrace.disclosure.notifications import (
    count_new_notifications,
    list_notifications,
    mark_notifications_seen,
)
from tiertrace.errors import RuleViolationError
from tiertrace.organizations.models import User
from tiertrace.organizations.services import get_organization
from tiertrace.pagination import PAGE_SIZE

#: The menu counts up to this many, then says "99+".
COUNT_CAP = 99
#: The `seen` of a page link when the person had never looked: everything was new.
NEVER = "never"


@bp.get("/notifications")
@login_required("company")
def notifications() -> Any:
    """The organisation's notifications, newest first, a page at a time; each links to its request.

    Those new to the person are marked "New"; showing the page marks everything up to the newest one
    on it as seen (`mark_notifications_seen`), committed once the page is made.
    """
    session, organization, user = db_session(), current_org(), current_user()
    assert user is not None
    cursor = request.args.get("cursor") or None
    try:
        page = list_notifications(session, organization, cursor=cursor)
    except RuleViolationError as error:
        raise BadRequest(BROKEN_PAGE_LINK) from error
    seen = visit_mark(request.args.get("seen"), user)
    new = {item.id for item in page.items if seen is None or item.created_at > seen}
    if page.items:
        mark_notifications_seen(session, user, up_to=max(item.created_at for item in page.items))
    # Notifications name organisations by slug; the page names them as people know them.
    slugs = {item.data.get(key) for item in page.items for key in ("requester", "supplier")}
    names = {}
    for slug in slugs:
        named = get_organization(session, slug) if isinstance(slug, str) else None
        if named is not None:
            names[named.slug] = named.name
    shown = render_template(
        "notifications.html",
        page=page,
        first=cursor is None,
        names=names,
        page_size=PAGE_SIZE,
        new=new,
        seen=NEVER if seen is None else seen.isoformat(),
    )
    session.commit()  # seen only once the page is made
    return shown


def visit_mark(text: str | None, user: User) -> datetime | None:
    """What the person had seen when they opened the list: their mark on opening it, the one the page
    links carry (`seen`) on the pages they lead to, so that those badge what was new when the list was
    opened, although its first page has marked them seen. None: nothing.

    Raises BadRequest for a `seen` no page link made.
    """
    if text is None:
        return user.notifications_seen_at
    if text == NEVER:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest(BROKEN_PAGE_LINK)
    return moment


@bp.app_template_global("new_notifications")
def new_notifications(user: User) -> str | None:
    """How many notifications are new to `user` as the menu prints it ("99+" beyond COUNT_CAP), or None
    when none is."""
    count = count_new_notifications(db_session(), user, cap=COUNT_CAP)
    return None if not count else f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)
