"""The supplier's pages: the inbox of requests, declining, the declaration editor, the history; and the
requests the organisation sends (Sent requests, Ask a supplier).

Signing happens in the browser (static/sign.js): the page asks this server for the payload bytes built
from the form (action "payload"; a form that breaks a rule comes back as the editor with its errors
instead), signs PAE(type, payload) with the key file the person picks — which never leaves the browser —
and posts only the envelope (action "submit"), which goes to the same `submit_declaration` as API v1. An
envelope signed with `tiertrace sign` can be uploaded instead.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from flask import Response, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from marshmallow import ValidationError
from werkzeug.exceptions import BadRequest

from portal import current_settings
from portal.db import db_session
from portal.web.base import BROKEN_PAGE_LINK, bp, current_org, login_required
from portal.web.forms import DeclarationForm, field_errors, field_label
from schemas.api import MAX_TEXT, RequestCreateSchema
from schemas.declaration import DISCLOSURE_CHOICES
from tiertrace import reference
from tiertrace.db import utcnow
from tiertrace.declarations.history import get_current_declaration, list_declarations, require_own_declaration
from tiertrace.declarations.models import Declaration
from tiertrace.declarations.services import (
    MAX_ENVELOPE_BYTES,
    check_payload,
    read_declaration,
    submit_declaration,
    version_ids,
)
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import (
    create_request,
    decline_request,
    list_requests,
    require_visible_request,
)
from tiertrace.errors import (
    ConflictError,
    MalformedInputError,
    NotFoundError,
    RuleViolationError,
    TiertraceError,
)
from tiertrace.organizations.accounts import list_companies, list_keys
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import get_organization
from tiertrace.pagination import PAGE_SIZE
from tiertrace.signing import standard_envelope


class Tab(NamedTuple):
    """A tab of a list of requests: the statuses it lists, one after the other, each in `order` (one of
    `list_requests`'s); a status of None is every status at once."""

    statuses: tuple[str | None, ...]
    order: str = "newest"


#: Inbox tabs: what is to answer by due date, the earliest first, so the supplier works down the list.
INBOX_TABS = {
    "todo": Tab(("overdue", "open"), "due_date"),
    "answered": Tab(("answered",)),
    "declined": Tab(("declined",)),
}
#: Sent requests' tabs: what is waiting by due date, the earliest first, so the requester knows whom to chase.
OUTBOX_TABS = {
    "all": Tab((None,)),
    "waiting": Tab(("overdue", "open"), "due_date"),
    "answered": Tab(("answered",)),
    "declined": Tab(("declined",)),
}


@dataclass(frozen=True)
class RequestPage:
    """One page of a list of requests: whether it is the first, and the URL arguments of the next one."""

    items: list[DisclosureRequest]
    first: bool
    #: None on the last page.
    next: dict[str, str] | None


def _requests_page(box: str, tab: Tab) -> RequestPage:
    """A page of PAGE_SIZE of the organisation's requests of `box`: those of the tab's first status, in
    its order, then those of the next, and so on, from where the URL's `status` and `cursor` say.

    A `status` the tab does not list or a cursor `list_requests` did not make for the tab's order answers 400.
    """
    session, organization = db_session(), current_org()
    start, cursor = request.args.get("status"), request.args.get("cursor") or None
    statuses = tab.statuses
    if start is not None and start not in statuses:
        raise BadRequest(BROKEN_PAGE_LINK)
    first = cursor is None and start in (None, statuses[0])
    items: list[DisclosureRequest] = []
    for status in statuses[statuses.index(start) if start is not None else 0 :]:
        if len(items) == PAGE_SIZE:
            # Full just as the previous status ran out: the next page starts at this one, if it has any.
            if list_requests(session, organization, box=box, status=status, limit=1).items:
                return RequestPage(items, first, _page_args(status, None))
            continue
        try:
            page = list_requests(
                session,
                organization,
                box=box,
                status=status,
                order=tab.order,
                cursor=cursor,
                limit=PAGE_SIZE - len(items),
            )
        except RuleViolationError as error:
            raise BadRequest(BROKEN_PAGE_LINK) from error
        items.extend(page.items)
        if page.next is not None:
            return RequestPage(items, first, _page_args(status, page.next))
        cursor = None
    return RequestPage(items, first, None)


def _page_args(status: str | None, cursor: str | None) -> dict[str, str]:
    return {key: value for key, value in (("status", status), ("cursor", cursor)) if value}


@bp.get("/inbox")
@login_required("company")
def inbox() -> Any:
    """Requests addressed to the organisation, a page at a time: to answer (overdue first, then open, each
    by due date), answered, declined."""
    tab = request.args.get("tab", "todo")
    if tab not in INBOX_TABS:
        tab = "todo"
    return render_template(
        "inbox.html",
        tab=tab,
        page=_requests_page("incoming", INBOX_TABS[tab]),
        page_size=PAGE_SIZE,
        today=datetime.now(UTC).date(),
    )


@bp.get("/outbox")
@login_required("company")
def outbox() -> Any:
    """Requests the organisation sent, by hand or through its declarations' components, a page at a time."""
    tab = request.args.get("tab", "all")
    if tab not in OUTBOX_TABS:
        tab = "all"
    return render_template(
        "outbox.html",
        tab=tab,
        page=_requests_page("outgoing", OUTBOX_TABS[tab]),
        page_size=PAGE_SIZE,
        today=datetime.now(UTC).date(),
    )


def sentence(text: str) -> str:
    """`text` with a full stop, unless it ends with one already ("… sent to Heilong Co., Ltd.")."""
    return text if text.endswith((".", "!", "?")) else f"{text}."


#: The request form's problems in words, per field (the schema's and `create_request`'s keys).
REQUEST_FORM_MESSAGES = {
    "supplier": "Choose the supplier to ask",
    "part_number": "Enter the part number, as the supplier knows it (at most 100 characters)",
    "program": "At most 100 characters",
    "due_date": "Enter the date as YYYY-MM-DD",
    "message": "At most 10,000 characters",
}


@bp.route("/requests/new", methods=["GET", "POST"])
@login_required("company")
def request_new() -> Any:
    """Ask a supplier about a part, as POST /api/v1/requests does (the same schema and service)."""
    session, organization = db_session(), current_org()
    form = {key: request.form.get(key, "").strip() for key in RequestCreateSchema().fields}
    if request.method == "GET":
        return _render_request_form(form)
    try:
        body = RequestCreateSchema().load({key: value or None for key, value in form.items()})
        item = create_request(
            session,
            organization,
            supplier_slug=body["supplier"],
            part_number=body["part_number"],
            program=body["program"],
            due_date=body["due_date"],
            message=body["message"],
            default_due_days=current_settings().default_due_days,
        )
    except (ValidationError, RuleViolationError) as error:
        session.rollback()
        problems = error.messages if isinstance(error, ValidationError) else error.details
        errors = {f"request-{key}": text for key, text in REQUEST_FORM_MESSAGES.items() if key in problems}
        if "supplier" in problems and form["supplier"] == organization.slug:
            # `create_request`'s reason, in the form's words: "Choose the supplier" alone would puzzle.
            errors["request-supplier"] = (
                f"You cannot send a request to your own organisation, {organization.name}: choose a supplier"
            )
        return _render_request_form(form, errors, status=422)
    except ConflictError as error:  # the same question is still open with that supplier
        session.rollback()
        pending = require_visible_request(session, organization, error.details["id"])
        return _render_request_form(form, pending=pending, status=409)
    session.commit()
    flash(sentence(f"Your request for {item.part_number} was sent to {item.supplier.name}"), "success")
    return redirect(url_for("web.request_detail", request_id=item.id))


def _render_request_form(
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    *,
    pending: DisclosureRequest | None = None,
    status: int = 200,
) -> Any:
    organization = current_org()
    suppliers = [org for org in list_companies(db_session()) if org.id != organization.id]
    return render_template(
        "request_new.html",
        form=form,
        errors=errors or {},
        pending=pending,
        suppliers=suppliers,
        default_due_days=current_settings().default_due_days,
    ), status


@bp.get("/requests/<request_id>")
@login_required("company", "authority")
def request_detail(request_id: str) -> Any:
    """One request, to or from the organisation; its supplier can answer or decline it here."""
    item = require_visible_request(db_session(), current_org(), request_id)
    return _render_request(item)


@bp.post("/requests/<request_id>/decline")
@login_required("company")
def request_decline(request_id: str) -> Any:
    """Decline a request with a reason (at most MAX_TEXT, as the API); a request answered meanwhile says so on
    its page (409); one declined already (a second tab, a double submit) keeps its first reason, and its
    page says so."""
    session, organization = db_session(), current_org()
    reason = request.form.get("reason", "")
    problem = _decline_reason_problem(reason)
    now = utcnow()
    try:
        if problem is not None:
            raise RuleViolationError("the reason is not valid", details={"reason": problem})
        item = decline_request(session, organization, request_id, reason, now=now)
    except (RuleViolationError, ConflictError) as error:  # a missing or long reason, or answered already
        session.rollback()
        item = require_visible_request(session, organization, request_id)
        if item.supplier_id != organization.id:
            raise NotFoundError("no such request") from error
        if isinstance(error, ConflictError) or item.status == "answered":
            return _render_request(item, reason=reason, decline_refused=True), 409
        if item.status == "declined":
            return _declined_already(item)
        errors = {"reason": problem or "Give a reason for declining"}
        return _render_request(item, errors, reason=reason), 422
    if item.answered_at != now:  # `decline_request` returns a request declined before unchanged
        session.rollback()
        return _declined_already(item)
    session.commit()
    flash(f"You declined the request for {item.part_number}.", "success")
    return redirect(url_for("web.inbox"))


def _render_request(
    item: DisclosureRequest, errors: dict[str, str] | None = None, *, reason: str = "", **flags: bool
) -> str:
    """The request's page; `flags` say why a decline or an answer was refused (`decline_refused`, ...)."""
    return render_template(
        "request.html", item=item, errors=errors or {}, reason=reason, reason_max=MAX_TEXT, **flags
    )


def _decline_reason_problem(reason: str) -> str | None:
    """What is wrong with a reason for declining, in words, or None (the API's limit, MAX_TEXT)."""
    if not reason.strip():
        return "Give a reason for declining"
    if len(reason) > MAX_TEXT:
        return f"Shorten the reason to at most {MAX_TEXT:,} characters (it has {len(reason):,})"
    return None


def _declined_already(item: DisclosureRequest) -> Any:
    """A decline of a request declined before changes nothing: its page says so, with the first reason."""
    day = f", on {item.answered_at:%Y-%m-%d}" if item.answered_at else ""
    flash(f"You had declined this request already{day}; your first reason stands.", "info")
    return redirect(url_for("web.request_detail", request_id=item.id))


# --- the declaration editor -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditorContext:
    """What the editor answers or replaces; the payload's in_response_to and supersedes come from here."""

    title: str
    action_url: str
    in_response_to: DisclosureRequest | None = None
    supersedes: Declaration | None = None


def _request_context(
    organization: Organization, item: DisclosureRequest
) -> tuple[EditorContext, DeclarationForm]:
    current = get_current_declaration(db_session(), organization, item.part_number)
    form = DeclarationForm.from_payload(current.payload) if current is not None else DeclarationForm()
    form.part_number = item.part_number
    if current is None:
        form.program = ""
    context = EditorContext(
        title=f"Answer {item.requester.name}: {item.part_number}",
        action_url=url_for("web.request_declare", request_id=item.id),
        in_response_to=item,
        supersedes=current,
    )
    return context, form


@bp.route("/requests/<request_id>/declare", methods=["GET", "POST"])
@login_required("company")
def request_declare(request_id: str) -> Any:
    """The editor answering a request (a new version of the part's current declaration, if it has one).

    Not once the request is answered: an editor reached again after that (the browser's Back, a second
    tab) would file a second version; its page says what happened instead (409). A declined request may
    still be answered (the supplier changed its mind), as the API allows.
    """
    organization = current_org()
    item = require_visible_request(db_session(), organization, request_id)
    if item.supplier_id != organization.id:
        raise NotFoundError("no such request")
    if item.status == "answered":
        return _render_request(item, answer_refused=True), 409
    context, form = _request_context(organization, item)
    return _editor(context, form)


@bp.route("/declarations/new", methods=["GET", "POST"])
@login_required("company")
def declaration_new() -> Any:
    """The editor for a declaration nobody asked for yet (an OEM's top-level product, say)."""
    context = EditorContext(title="New declaration", action_url=url_for("web.declaration_new"))
    return _editor(context, DeclarationForm())


@bp.route("/declarations/<declaration_id>/supersede", methods=["GET", "POST"])
@login_required("company")
def declaration_supersede(declaration_id: str) -> Any:
    """The editor prefilled from a current declaration; what is submitted supersedes it."""
    declaration = require_own_declaration(db_session(), current_org(), declaration_id)
    if not declaration.is_current:
        flash("That version was superseded already: this is the current one.", "info")
        return redirect(url_for("web.declaration_detail", declaration_id=declaration.superseded_by_id))
    context = EditorContext(
        title=f"New version of {declaration.part_number}",
        action_url=url_for("web.declaration_supersede", declaration_id=declaration.id),
        supersedes=declaration,
    )
    return _editor(context, DeclarationForm.from_payload(declaration.payload))


def _editor(context: EditorContext, prefilled: DeclarationForm) -> Any:
    """GET: the form. POST: a row action, the payload to sign (JSON), or the signed envelope to submit.

    The payload is answered only when it passes filing's payload checks; otherwise the editor comes back
    with the errors next to the fields, as it does for a submitted envelope that filing refuses.
    """
    if request.method == "GET":
        if not prefilled.materials:
            prefilled.apply("add-material")
        return _render_editor(context, prefilled)
    form = DeclarationForm.from_form(request.form)
    action = request.form.get("action", "")
    if form.apply(action):
        return _render_editor(context, form)
    session, organization = db_session(), current_org()
    form.prune()
    if action == "payload":
        payload = form.to_payload(
            issuer=organization.slug,
            declaration_id=str(uuid.uuid4()),
            issued_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            in_response_to=context.in_response_to.id if context.in_response_to else None,
            supersedes=context.supersedes.id if context.supersedes else None,
        )
        try:
            # Filing's own payload checks, so nobody signs a payload that filing would refuse.
            check_payload(session.connection(), organization.id, payload)
        except TiertraceError as error:
            return _render_error(context, form, error)
        body = json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in form.part_number) or "declaration"
        return Response(
            body,
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="payload-{name}.json"'},
        )
    envelope = request.form.get("envelope", "").encode("utf-8")
    if not envelope:
        return _render_editor(
            context,
            form,
            {
                "signing": "Choose your key file and press Sign and submit (this needs JavaScript), or "
                "download the payload, sign it with tiertrace sign and upload the envelope"
            },
            status=422,
        )
    try:
        result = submit_declaration(session, organization, envelope)
    except TiertraceError as error:
        session.rollback()
        return _render_error(context, form, error)
    session.commit()
    flash(f"Declaration of {result.part_number} signed and filed.", "success")
    return redirect(url_for("web.declaration_detail", declaration_id=result.id))


def _render_error(context: EditorContext, form: DeclarationForm, error: TiertraceError) -> Any:
    """The editor with a domain error's details next to the fields they concern."""
    errors, general = field_errors(error.details, form.field_order())
    # "the payload breaks the declaration rules" says less than the field errors listed below the heading.
    message = None if error.code == "payload_invalid" and errors else error.message
    version = _version_problem(context, form, error)
    if version is not None:
        # What the editor put in the payload itself (in_response_to, supersedes) is no field of the form:
        # the part number is what the person can change, or the version to start from.
        errors, general, message = {"part-number": version}, {}, None
    problem = envelope_problem(error, current_org())
    if problem is not None:
        # The envelope's form or signature: said in words next to the key file, not as the core's keys
        # (`problem`, `revoked_on`, `keyid` are for programs, not for the summary).
        errors = {key: text for key, text in errors.items() if key != "signing"}
        errors["signing"] = problem.text
        general = {}
        message = None
    return _render_editor(
        context, form, errors, general, message=message, status=_status(error), key_problem=problem
    )


def _version_problem(context: EditorContext, form: DeclarationForm, error: TiertraceError) -> str | None:
    """In words, a refusal for the request answered or the version replaced (`check_payload`'s
    in_response_to and supersedes, and its version conflicts), or None for other errors."""
    part = form.part_number
    if isinstance(error, ConflictError) and "current" in error.details:
        if "supersedes" in error.details:
            return (
                f"A newer version of {part} was filed after this page was opened: open the current version "
                "and file a new version of it"
            )
        if context.in_response_to is not None:
            return (
                f"A declaration of {part} was filed after this page was opened: open this page again to "
                "answer with a new version of it"
            )
        return (
            f"{part} has a declaration already: open it under Declarations and file a new version of it, "
            "or change the part number"
        )
    if not isinstance(error, RuleViolationError) or error.code != "payload_invalid":
        return None
    asked, replaced = context.in_response_to, context.supersedes
    if set(error.details) == {"in_response_to"} and asked is not None:
        return (
            f"This answers {asked.requester.name}'s request for {asked.part_number}: keep the part number "
            f"{asked.part_number}"
        )
    if set(error.details) == {"supersedes"} and replaced is not None:
        return f"This is a new version of {replaced.part_number}: keep the part number {replaced.part_number}"
    return None


#: What the upload and the editor say about something that is not an envelope at all.
NOT_AN_ENVELOPE = (
    "This is not a signed envelope: paste the JSON that tiertrace sign printed, or choose its file"
)


@dataclass(frozen=True)
class EnvelopeProblem:
    """An envelope refused for its form or its signature, in words; `unregistered` when its key is not
    one of the organisation's (the page then links to the settings' key section)."""

    text: str
    unregistered: bool = False

    def html(self) -> Markup:
        """The text, with "register its public key under Settings" a link to the settings' keys."""
        if not self.unregistered:
            return Markup.escape(self.text)
        link = Markup('<a href="{}#keys-title">register its public key under Settings</a>').format(
            url_for("web.settings")
        )
        head = self.text.removesuffix("register its public key under Settings")
        return Markup.escape(head) + link


def envelope_problem(error: TiertraceError, organization: Organization) -> EnvelopeProblem | None:
    """Plain words for an envelope filing refused before reading its payload, or None for other errors.

    The core says which problem it is (`details["problem"]`); a person needs to know what to do. A key
    that is not one of the organisation's (unknown, another's, or another's revoked one: the core does not
    tell those apart) is "not registered for" the organisation: that is what to fix.
    """
    if isinstance(error, MalformedInputError):
        return EnvelopeProblem(NOT_AN_ENVELOPE)
    if error.code == "payload_type":
        return EnvelopeProblem(
            "This envelope does not hold a tiertrace declaration: sign the payload file the editor gives "
            "you (Download the payload) with tiertrace sign"
        )
    if error.code != "signature":
        return None
    problem = error.details.get("problem")
    if problem in ("unknown_key", "not_issuers_key"):
        return EnvelopeProblem(
            f"This key is not registered for {organization.name}: register its public key under Settings",
            unregistered=True,
        )
    if problem == "revoked":
        return EnvelopeProblem(
            f"This key was revoked on {error.details['revoked_on']}: sign with a current key of "
            f"{organization.name}"
        )
    if problem == "does_not_verify":
        return EnvelopeProblem(
            "The signature does not match this declaration: it was changed after signing, or another key "
            "signed it. Sign it again"
        )
    return EnvelopeProblem(error.message)


def _status(error: TiertraceError) -> int:
    from portal.errors import STATUS_BY_ERROR

    return next((s for cls, s in STATUS_BY_ERROR if isinstance(error, cls)), 400)


def _render_editor(
    context: EditorContext,
    form: DeclarationForm,
    errors: dict[str, str] | None = None,
    general: dict[str, str] | None = None,
    *,
    message: str | None = None,
    status: int = 200,
    key_problem: EnvelopeProblem | None = None,
) -> Any:
    return render_template(
        "editor.html",
        context=context,
        form=form,
        errors=errors or {},
        general=general or {},
        message=message,
        key_problem=key_problem,
        materials=reference.materials(),
        countries=reference.countries(),
        companies=list_companies(db_session()),
        disclosure_choices=DISCLOSURE_CHOICES,
        has_key=any(key.revoked_at is None for key in list_keys(db_session(), current_org())),
    ), status


# --- upload of a CLI-signed envelope ----------------------------------------------------------------------


@bp.route("/declarations/upload", methods=["GET", "POST"])
@login_required("company")
def declaration_upload() -> Any:
    """Submit an envelope signed with `tiertrace sign` (a file, or pasted text, which a refusal keeps)."""
    if request.method == "GET":
        return _render_upload()
    pasted = request.form.get("envelope_text", "")
    uploaded = request.files.get("envelope_file")
    envelope = uploaded.read(MAX_ENVELOPE_BYTES + 1) if uploaded is not None and uploaded.filename else b""
    if not envelope:
        envelope = pasted.strip().encode("utf-8")
    if not envelope:
        errors = {"envelope_file": "Choose the envelope file that tiertrace sign printed, or paste it"}
        return _render_upload(errors, pasted=pasted, status=422)
    session, organization = db_session(), current_org()
    try:
        result = submit_declaration(session, organization, envelope)
    except TiertraceError as error:
        session.rollback()
        problem = envelope_problem(error, organization)
        details: list[str] = []
        if problem is None and error.code == "payload_invalid":
            # The payload's own rules: each as "Material 1: mass: Enter 0 or more", never a JSON path.
            by_field, general = field_errors(error.details, _payload_paths(error.details))
            details = [f"{field_label(key)}: {text}" for key, text in {**by_field, **general}.items()]
        text = problem.text if problem is not None else error.message
        return _render_upload(
            {"envelope_file": text}, details=details, pasted=pasted, problem=problem, status=_status(error)
        )
    session.commit()
    flash(f"Declaration of {result.part_number} filed.", "success")
    return redirect(url_for("web.declaration_detail", declaration_id=result.id))


def _payload_paths(details: dict[str, Any]) -> list[str]:
    # Every detail key is its own field on the upload page (which draws no fields): "materials.0.mass_g"
    # is listed as "Material 1: mass".
    return [str(key).replace(".", "-") for key in details]


def _render_upload(
    errors: dict[str, str] | None = None,
    *,
    details: list[str] | None = None,
    pasted: str = "",
    problem: EnvelopeProblem | None = None,
    status: int = 200,
) -> Any:
    return render_template(
        "upload.html", errors=errors or {}, details=details or [], pasted=pasted, key_problem=problem
    ), status


# --- history ----------------------------------------------------------------------------------------------


@bp.get("/declarations")
@login_required("company")
def declarations() -> Any:
    """Every declaration the organisation filed, every version, newest first."""
    return render_template("declarations.html", declarations=list_declarations(db_session(), current_org()))


@bp.get("/declarations/<declaration_id>")
@login_required("company", "authority")
def declaration_detail(declaration_id: str) -> Any:
    """One declaration as filed (issuer, its customers, the authority), with its versions.

    A customer reads it as the API gives it: a supplier the issuer disclosed to the authority only is
    blanked, and the envelope (whose signed bytes name it) is not offered.
    """
    session, organization = db_session(), current_org()
    reading = read_declaration(session, organization, declaration_id)
    declaration = reading.declaration
    issuer = session.get(Organization, declaration.issuer_id)
    slugs = {c.get("supplier") for c in reading.payload.get("components") or [] if c.get("supplier")}
    suppliers = {slug: org for slug in slugs if (org := get_organization(session, slug)) is not None}
    return render_template(
        "declaration.html",
        declaration=declaration,
        issuer=issuer,
        payload=reading.payload,
        envelope_shown=reading.envelope_shown,
        versions=version_ids(session, declaration),
        own=issuer is not None and issuer.id == organization.id,
        materials=reference.materials(),
        countries=reference.countries(),
        suppliers=suppliers,
    )


@bp.get("/declarations/<declaration_id>/envelope.json")
@login_required("company", "authority")
def declaration_envelope(declaration_id: str) -> Any:
    """The envelope in standard base64 (verifies offline with `tiertrace verify` or any DSSE tool).

    Not for a customer from whom the payload hides a supplier: the signed bytes would name it (404).
    """
    reading = read_declaration(db_session(), current_org(), declaration_id)
    if not reading.envelope_shown:
        raise NotFoundError("no such declaration envelope")
    declaration = reading.declaration
    return Response(
        json.dumps(standard_envelope(declaration.envelope), ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="declaration-{declaration.id}.json"'},
    )
