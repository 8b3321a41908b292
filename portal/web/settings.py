"""Settings: API tokens (create, revoke), signing keys (register, revoke), the person's password, and a
company's webhook (set, remove)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from portal import current_settings
from portal.db import db_session
from portal.web.base import bp, current_org, current_user, login_required, start_session
from tiertrace.disclosure.notifications import WebhookAddressError, register_webhook
from tiertrace.errors import AuthenticationError, RuleViolationError, TiertraceError
from tiertrace.organizations.accounts import (
    change_password,
    list_keys,
    list_tokens,
    list_users,
    password_problem,
)
from tiertrace.organizations.services import create_token, register_key, revoke_key, revoke_token


def _render(
    errors: dict[str, str] | None = None,
    new_token: str | None = None,
    status: int = 200,
    new_webhook_secret: str | None = None,
) -> Any:
    session, organization = db_session(), current_org()
    return render_template(
        "settings.html",
        tokens=list_tokens(session, organization),
        keys=list_keys(session, organization),
        users=list_users(session, organization),
        errors=errors or {},
        new_token=new_token,
        new_webhook_secret=new_webhook_secret,
        form=request.form,
    ), status


@bp.get("/settings")
@login_required()
def settings() -> Any:
    """The organisation's tokens and keys, its people, and the person's password."""
    return _render()


@bp.post("/settings/tokens")
@login_required()
def token_create() -> Any:
    """Create an API token; it is shown on this one answer and never again (only its hash is kept)."""
    label = request.form.get("label", "").strip()
    if len(label) > 100:
        return _render({"label": "at most 100 characters"}, status=422)
    session = db_session()
    token = create_token(session, current_org(), label=label or "created on the web")
    session.commit()
    return _render(new_token=token)


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required()
def token_revoke(token_id: int) -> Any:
    """Revoke an API token of the organisation."""
    session = db_session()
    revoke_token(session, current_org(), token_id)
    session.commit()
    flash("The token is revoked.", "success")
    return redirect(url_for("web.settings"))


@bp.post("/settings/keys")
@login_required()
def key_register() -> Any:
    """Register a signing key: the raw Ed25519 public key in base64, as `tiertrace keygen` prints it."""
    session = db_session()
    try:
        key, created = register_key(session, current_org(), request.form.get("public_key", "").strip())
    except TiertraceError as error:
        session.rollback()
        return _render({"public_key": _key_problem(error)}, status=422 if error.code == "invalid" else 409)
    session.commit()
    flash(f"Key {key.keyid} {'registered' if created else 'was registered already'}.", "success")
    return redirect(url_for("web.settings"))


NOT_A_PUBLIC_KEY = (
    "This is not an Ed25519 public key: paste the public key tiertrace keygen printed, or choose the key file"
)


def _key_problem(error: TiertraceError) -> str:
    # The core speaks of base64 and byte counts (the API keeps that); a person needs to know what to paste.
    if isinstance(error, RuleViolationError):
        if error.details.get("public_key") == "small order":
            return (
                "This public key is not safe to register (anyone could sign for it): make a key pair "
                "with tiertrace keygen and paste the public key it prints"
            )
        return NOT_A_PUBLIC_KEY
    return error.message


@bp.post("/settings/keys/revoke")
@login_required()
def key_revoke() -> Any:
    """Revoke a signing key: what it signed stays valid, nothing new signed with it is accepted."""
    session = db_session()
    revoke_key(session, current_org(), request.form.get("keyid", ""))
    session.commit()
    flash("The key is revoked.", "success")
    return redirect(url_for("web.settings"))


NO_WEBHOOK_URL = "Enter the address of your webhook, starting with https://"


@bp.post("/settings/webhook")
@login_required("company")
def webhook_set() -> Any:
    """Set or replace the webhook URL; its new signing secret is shown on this one answer and never again.

    Only companies receive requests, so only they have a webhook (anyone else gets 404). Deliveries still
    pending go to the new URL; a refused URL changes nothing.
    """
    url = request.form.get("webhook_url", "").strip()
    if not url:
        return _render({"webhook_url": NO_WEBHOOK_URL}, status=422)
    session = db_session()
    allow_private = current_settings().webhook_allow_private
    try:
        secret = register_webhook(session, current_org(), url, allow_private=allow_private)
    except RuleViolationError as error:
        session.rollback()
        return _render({"webhook_url": _webhook_problem(error)}, status=422)
    session.commit()
    return _render(new_webhook_secret=secret)


def _webhook_problem(error: RuleViolationError) -> str:
    # The core's words suit the API; a person needs to know what to type. A name that does not resolve and
    # one that resolves to a private address get one answer, as in the API: nobody learns how they resolve.
    if isinstance(error, WebhookAddressError):
        host = error.details["host"]
        if error.details["problem"] == "name_not_public":
            return (
                f"{host} does not resolve, or not to public internet addresses only: webhooks go to public "
                "internet addresses only (a new name works once its DNS record exists)"
            )
        return (
            f"{host} is not a public internet address: webhooks go to public internet addresses only "
            "(not to loopback, private or link-local ones)"
        )
    return "Enter a web address that starts with https:// or http://, without spaces, at most 500 characters"


@bp.post("/settings/webhook/remove")
@login_required("company")
def webhook_remove() -> Any:
    """Remove the webhook: deliveries still pending are dropped (the notifications stay listed)."""
    session = db_session()
    organization = current_org()
    had_webhook = organization.webhook_url is not None
    register_webhook(session, organization, None)
    session.commit()
    if had_webhook:
        flash(
            "The webhook is removed; deliveries still pending are dropped (the notifications stay listed "
            "in the API).",
            "success",
        )
    else:
        flash("No webhook was set.", "success")
    return redirect(url_for("web.settings"))


@bp.post("/settings/password")
@login_required()
def password_change() -> Any:
    """Change the person's password; other sessions of the account end, this one goes on.

    A wrong current password counts as a failed login of the account from the client's address: past the
    login limits (`change_password`) even the right one is refused, 429 with Retry-After.
    """
    user = current_user()
    assert user is not None
    current, new = request.form.get("current_password", ""), request.form.get("new_password", "")
    # Every problem the form can see on its own is reported at once, not one per try.
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = "Enter your current password"
    problem = password_problem(new)
    if problem is not None:
        errors["new_password"] = (
            f"Choose a password {'of' if problem.startswith('at ') else 'that is'} {problem}"
        )
    if new != request.form.get("new_password_confirm", ""):
        errors["new_password_confirm"] = "the two passwords differ"
    if errors:
        return _render(errors, status=422)
    session = db_session()
    try:
        change_password(session, user, current, new, address=request.remote_addr or "")
    except AuthenticationError as error:  # the attempt is counted (committed) already
        page, status = _render({"current_password": error.message}, status=429)
        return page, status, {"Retry-After": str(error.details["retry_after"])}
    except TiertraceError as error:
        session.rollback()
        return _render({key: str(value) for key, value in error.details.items()}, status=422)
    session.commit()
    start_session(user)
    flash("Your password is changed.", "success")
    return redirect(url_for("web.settings"))
