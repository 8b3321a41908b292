"""A company's notifications: new requests addressed to it, reminders of those it left overdue,
escalations of those its suppliers left overdue (the same list as GET /api/v1/notifications).

The core records no read state, so the menu counts the notifications of the last 7 days, not unread ones.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import render_template, request
from werkzeug.exceptions import BadRequest

from portal.db import db_session
from portal.web.base import BROKEN_PAGE_LINK, bp, current_org, login_required
from tiertrace.db import utcnow
from tiertrace.disclosure.notifications import count_notifications, list_notifications
from tiertrace.errors import RuleViolationError
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import get_organization
from tiertrace.pagination import PAGE_SIZE

#: What the menu's count covers.
RECENT = timedelta(days=7)
#: The menu counts up to this many, then says "99+".
COUNT_CAP = 99


@bp.get("/notifications")
@login_required("company")
def notifications() -> Any:
    """The organisation's notifications, newest first, a page at a time; each links to its request."""
    session, organization = db_session(), current_org()
    cursor = request.args.get("cursor") or None
    try:
        page = list_notifications(session, organization, cursor=cursor)
    except RuleViolationError as error:
        raise BadRequest(BROKEN_PAGE_LINK) from error
    # Notifications name organisations by slug; the page names them as people know them.
    slugs = {item.data.get(key) for item in page.items for key in ("requester", "supplier")}
    names = {}
    for slug in slugs:
        named = get_organization(session, slug) if isinstance(slug, str) else None
        if named is not None:
            names[named.slug] = named.name
    return render_template(
        "notifications.html", page=page, first=cursor is None, names=names, page_size=PAGE_SIZE
    )


@bp.app_template_global("recent_notifications")
def recent_notifications(organization: Organization) -> str | None:
    """How many notifications `organization` got in the last 7 days as the menu prints it ("99+" beyond
    COUNT_CAP), or None when it got none."""
    count = count_notifications(db_session(), organization, since=utcnow() - RECENT, cap=COUNT_CAP)
    return None if not count else f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)
