"""Signing in and out, accepting an invitation, and the home page that sends each person where they work."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from portal.db import db_session
from portal.web.base import (
    bp,
    current_org,
    current_user,
    end_session,
    safe_next,
    start_session,
)
from tiertrace.errors import AuthenticationError, NotFoundError, RuleViolationError
from tiertrace.organizations.accounts import (
    accept_invite,
    authenticate_user,
    end_sessions,
    require_invited_user,
)
from tiertrace.organizations.models import Organization

#: Where each kind of organisation starts.
HOME_BY_KIND = {"company": "web.inbox", "authority": "web.audit_index", "operator": "web.settings"}


@bp.get("/")
def home() -> Any:
    """The start page: the login form for visitors, the person's own start page otherwise."""
    if current_user() is None:
        return redirect(url_for("web.login"))
    return redirect(url_for(HOME_BY_KIND.get(current_org().kind, "web.settings")))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; on success a fresh session, on failure the same message whatever went wrong.

    Failures are counted per account and client address, per account, and per address
    (`authenticate_user`); past the address's limit it waits (429 with Retry-After). The address is
    `request.remote_addr`: the peer's, or the client's from X-Forwarded-For when
    TIERTRACE_TRUSTED_PROXIES says how many proxies vouch for it (portal.create_app).
    """
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(target or url_for("web.home"))
        return render_template("login.html", next=target, email="", errors={})
    email, password = request.form.get("email", ""), request.form.get("password", "")
    # An empty field is a slip, not a guess: it is named, and never counts toward the lock-out.
    errors = {"email": "Enter your email address"} if not email.strip() else {}
    if not password:
        errors["password"] = "Enter your password"
    if errors:
        return render_template("login.html", next=target, email=email, errors=errors), 422
    session = db_session()
    try:
        user = authenticate_user(session, email, password, address=request.remote_addr or "")
    except AuthenticationError as error:  # the attempt is counted (committed) already
        page = render_template("login.html", next=target, email=email, errors={"password": error.message})
        if "retry_after" in error.details:
            return page, 429, {"Retry-After": str(error.details["retry_after"])}
        return page, 401
    session.commit()
    start_session(user)
    return redirect(target or url_for("web.home"))


@bp.post("/logout")
def logout() -> Any:
    """Sign out (a POST with the CSRF token, so no other site can sign a person out).

    Ends the person's sessions on the server, on every device: a copy of the cookie is worth nothing after.
    """
    user = current_user()
    if user is not None:
        session = db_session()
        end_sessions(session, user)
        session.commit()
    end_session()
    flash("You are signed out, on every device.", "info")
    return redirect(url_for("web.login"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invite(token: str) -> Any:
    """Accept an invitation: choose a password, then be signed in."""
    session = db_session()
    try:
        user = require_invited_user(session, token)
    except NotFoundError as error:
        return render_template("invite_invalid.html", message=error.message), 404
    organization = session.get(Organization, user.organization_id)
    if request.method == "GET":
        return render_template("invite.html", email=user.email, organization=organization, errors={})
    password = request.form.get("password", "")
    errors: dict[str, str] = {}
    if password != request.form.get("password_confirm", ""):
        errors["password_confirm"] = "the two passwords differ"
    else:
        try:
            user = accept_invite(session, token, password)
        except RuleViolationError as error:
            errors = {key: str(value) for key, value in error.details.items()}
    if errors:
        return render_template("invite.html", email=user.email, organization=organization, errors=errors), 422
    session.commit()
    start_session(user)
    flash("Your password is set. Welcome to tiertrace.", "success")
    return redirect(url_for("web.home"))
