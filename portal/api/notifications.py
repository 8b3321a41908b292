"""Notifications (new incoming requests, reminders, escalations) and the organisation's webhook."""

from __future__ import annotations

from typing import Any

from flask import Response

from portal import current_settings
from portal.api.parsing import Blueprint
from portal.auth import current_organization
from portal.db import db_session
from schemas.api import NotificationPageSchema, NotificationQuerySchema, WebhookCreatedSchema, WebhookSchema
from tiertrace.disclosure.notifications import list_notifications, register_webhook

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="Notifications and webhooks")


@blp.get("/notifications")
@blp.arguments(NotificationQuerySchema, location="query")
@blp.response(200, NotificationPageSchema)
def index(query: dict[str, Any]) -> dict[str, Any]:
    """The caller's notifications, newest first (every new incoming request is one)."""
    page = list_notifications(
        db_session(), current_organization(), cursor=query.get("cursor"), limit=query["limit"]
    )
    return {
        "items": [
            {
                "id": n.id,
                "kind": n.kind,
                "request_id": n.request_id,
                "data": n.data,
                "created_at": n.created_at,
            }
            for n in page.items
        ],
        "next": page.next,
    }


@blp.put("/organizations/me/webhook")
@blp.arguments(WebhookSchema)
@blp.response(200, WebhookCreatedSchema)
def set_webhook(body: dict[str, Any]) -> dict[str, Any]:
    """Register the URL that receives each notification as a signed JSON POST; returns its secret once.

    Each POST carries `X-Tiertrace-Signature: sha256=<hex HMAC-SHA256 of the body>` made with the secret.
    The host must be, and resolve to, public internet addresses only (422 otherwise), unless the
    deployment allows private ones (TIERTRACE_WEBHOOK_ALLOW_PRIVATE). Deliveries still pending go to the
    new URL. See docs/webhooks.md.
    """
    session = db_session()
    organization = current_organization()
    allow_private = current_settings().webhook_allow_private
    secret = register_webhook(session, organization, body["url"], allow_private=allow_private)
    session.commit()
    return {"url": organization.webhook_url, "secret": secret}


@blp.delete("/organizations/me/webhook")
@blp.response(204)
def remove_webhook() -> Response:
    """Stop sending notifications to a webhook; deliveries still pending are dropped (they stay listed)."""
    session = db_session()
    register_webhook(session, current_organization(), None)
    session.commit()
    return Response(status=204)
