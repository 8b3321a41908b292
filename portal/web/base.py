"""The web blueprint and what every page shares: the signed-in person, CSRF, headers, error pages.

Sessions are Flask's signed cookies (HttpOnly, SameSite=Lax, Secure as `cookie_secure` decides), bound
to the account's password hash and session epoch (`credential_version`), so a new password or a logout
ends every session of the account. Every POST to a page must carry the session's CSRF token (form field
`csrf_token` or header `X-CSRF-Token`).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import BadRequest, HTTPException

from portal import current_settings
from portal.db import db_session
from portal.errors import RETRY_AFTER_SECONDS, STATUS_BY_ERROR
from portal.web.charts import GAP_LABELS, coverage_band
from tiertrace.errors import AuthenticationError, TiertraceError
from tiertrace.numbers import significant
from tiertrace.organizations.accounts import credential_version, get_user
from tiertrace.organizations.models import Organization, User
from tiertrace.text import unstorable_text_paths

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/web/static"
)

F = TypeVar("F", bound=Callable[..., Any])

#: Content Security Policy of every page: nothing inline, nothing from elsewhere. Charts are inline SVG
#: markup (allowed: it is not script), coloured with presentation attributes, never style attributes.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
#: The API docs page (flask-smorest's Swagger UI) starts its bundled script inline and styles inline.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
#: Everything else (JSON, files, assets) is never a page: it may load nothing and sit in no frame.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"
_CSRF_KEY = "_csrf"
#: The error (400) of a link to a page of a list whose position (`cursor`, `status`) the list did not make.
BROKEN_PAGE_LINK = (
    "This link to a page of the list is broken or out of date: start again from the first page."
)


class WebSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with the Secure flag decided per request by `cookie_secure`."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return cookie_secure(app.extensions["tiertrace"].settings.secure_cookies, request.host)


def cookie_secure(setting: bool | None, host: str) -> bool:
    """Whether the session cookie gets the Secure flag.

    True or False when TIERTRACE_SECURE_COOKIES says so. Unset: Secure everywhere except when the portal
    is reached on a loopback address (127.0.0.1, localhost, ::1), which is the embedded local mode over
    plain http — a browser would otherwise never send the cookie back, and loopback traffic does not
    leave the machine.
    """
    if setting is not None:
        return setting
    hostname = urlsplit(f"//{host}").hostname or ""
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return True


# --- the signed-in person ---------------------------------------------------------------------------------


def current_user() -> User | None:
    """The person signed in on this request, or None (also when the password changed or the person logged
    out since this session began)."""
    if "web_user" not in g:
        user = None
        user_id = session.get("uid")
        if isinstance(user_id, int):
            user = get_user(db_session(), user_id)
            if user is not None and (
                user.password_hash is None or session.get("cv") != credential_version(user)
            ):
                user = None
        g.web_user = user
    return g.web_user


def current_org() -> Organization:
    """The organisation of the signed-in person (call only behind `login_required`)."""
    user = current_user()
    assert user is not None
    organization = db_session().get(Organization, user.organization_id)
    assert organization is not None
    return organization


def start_session(user: User) -> None:
    """Sign `user` in: a fresh session (no data carried over from before the login) and CSRF token."""
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["cv"] = credential_version(user)
    session[_CSRF_KEY] = secrets.token_urlsafe(32)
    g.pop("web_user", None)


def end_session() -> None:
    """Sign out: forget everything the session held."""
    session.clear()
    g.pop("web_user", None)


def login_required(*kinds: str) -> Callable[[F], F]:
    """Pages for signed-in people, optionally only of organisations of `kinds`.

    Anonymous visitors are sent to the login page; a person of another kind of organisation gets 404,
    like any page they may not see.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user() is None:
                return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
            if kinds and current_org().kind not in kinds:
                return error_page(404, "Not found", "There is no such page, or it is not yours to see.")
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]  # wraps keeps the signature

    return decorate


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site (never another host: no open redirect), else None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


# --- CSRF -------------------------------------------------------------------------------------------------


def csrf_token() -> str:
    """The session's CSRF token, created on first use (anonymous visitors get one too: login forms)."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_CSRF_KEY] = token
    return token


@bp.before_request
def _check_csrf() -> Any:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    expected = session.get(_CSRF_KEY)
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), sent.encode()):
        return error_page(
            400,
            "The form has expired",
            "This form was not sent from a page of this session (the CSRF token is missing or wrong). "
            "Go back, reload the page and send it again.",
        )
    return None


# --- rendering --------------------------------------------------------------------------------------------


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    user = current_user()
    return {
        "web_user": user,
        "web_org": current_org() if user is not None else None,
    }


def refuse_nul() -> None:
    """Answer 400 to a path, query or web form holding NUL: no text of tiertrace has one, and PostgreSQL
    cannot even compare with it (the API's JSON bodies are checked by `portal.api.parsing`). The API's
    bodies are never parsed as forms here: POST /api/v1/declarations reads its raw bytes, also when a
    client labels them a form (`curl -d @envelope.json`)."""
    fields = [*request.args.items(multi=True)]
    if not is_api_path(request.path):
        fields += request.form.items(multi=True)
    if unstorable_text_paths([request.path, *(text for field in fields for text in field)]):
        raise BadRequest("The request holds a NUL character (\\x00), which no text may contain.")


def security_headers(response: Any) -> Any:
    """The headers of every answer of the portal, pages, API and health checks alike (docs/security.md)."""
    if response.mimetype != "text/html":
        csp = DATA_CSP
    else:
        csp = DOCS_CSP if request.path == "/api/v1/docs" else CSP
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # Invitation tokens travel in URLs: never send a URL of this site to another one.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # Pages and API answers hold confidential data: no cache, in the browser or on the way, keeps them.
    if response.mimetype in ("text/html", "application/json"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.app_template_filter("mass")
def format_mass(grams: float | None) -> str:
    """A mass in grams for people: mg below 1 g, kg from 1,000 g, three significant figures (but every
    whole digit), thousands separators: "15,030 kg", "224 g", "32 mg"; "–" for None."""
    if grams is None:
        return "–"
    if not grams:
        return "0\u00a0g"
    # The unit follows the rounded figure: 999.7 g is "1 kg", not "1,000 g".
    rounded = abs(float(f"{grams:.3g}"))
    unit, size = ("kg", 1000.0) if rounded >= 1000 else ("g", 1.0) if rounded >= 1 else ("mg", 0.001)
    return f"{significant(grams / size, 3)}\u00a0{unit}"  # a no-break space: "1,084 kg" stays on one line


@bp.app_template_filter("quantity")
def format_quantity(value: float) -> str:
    """A quantity: at most four significant figures, thousands separators, "30" rather than "30.0"."""
    return significant(value, 4)


@bp.app_template_filter("timestamp")
def format_timestamp(value: datetime | str) -> str:
    """A moment as "2025-02-03 09:00 UTC", from a datetime (naive ones are UTC) or RFC 3339 text."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@bp.app_template_global("plural")
def plural(count: float, word: str, words: str | None = None) -> str:
    """`word` for a count of one, else its plural (`words`, or `word` + "s"): "1 gap", "0 gaps", "2 gaps"."""
    return word if count == 1 else (words or f"{word}s")


# The colour band of a traced share, as the tree draws it (in `portal.web.charts`).
bp.app_template_filter("coverage_band")(coverage_band)


@bp.app_template_filter("gap_label")
def gap_label(kind: str | None) -> str:
    """A gap in words, the same on the chain pages and the audit: "request open", not "open"."""
    return GAP_LABELS.get(kind or "", str(kind).replace("_", " "))


def error_page(status: int, title: str, message: str, details: dict[str, Any] | None = None) -> Any:
    """An HTML error page with `status`, in the layout of the signed-in person (menu, "Sign out").

    A URL that matches no route has no blueprint, so the blueprint's context processor does not run for
    its page: the person is passed here.
    """
    try:
        current_user()
    except OperationalError:
        g.web_user = None  # no database to look the person up in: the page goes without the menu
    page = render_template(
        "error.html", status=status, title=title, message=message, details=details, **_template_globals()
    )
    return page, status


@bp.errorhandler(TiertraceError)
def _domain_error(error: TiertraceError) -> Any:
    if isinstance(error, AuthenticationError):
        end_session()
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    status = next((s for cls, s in STATUS_BY_ERROR if isinstance(error, cls)), 400)
    titles = {404: "Not found", 403: "Not allowed", 409: "Conflict", 413: "Too large"}
    return error_page(status, titles.get(status, "That did not work"), error.message, error.details)


@bp.errorhandler(OperationalError)
def _database_unavailable(error: OperationalError) -> Any:
    current_app.logger.error("database unavailable: %s", error)
    g.web_user = None  # the page cannot look the signed-in person up either
    message = "The portal cannot reach its database. Nothing was changed; try again."
    page, status = error_page(503, "Unavailable for a moment", message)
    return page, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    return error_page(error.code or 500, error.name, error.description or error.name)


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def base_url() -> str:
    """The public base URL of the portal (invitation links), without a trailing slash."""
    # Never the request's Host header: a forged one would put an attacker's host in the links.
    return current_settings().base_url.rstrip("/")
