"""The supplier's pages: inbox, decline, the declaration editor (payload, signed submit, errors), history."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from web_helpers import csrf_of, field_error

from tiertrace import signing
from tiertrace.db import utcnow
from tiertrace.declarations.models import Declaration
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization

FIELDS = {
    "part-number": "TRM-2040",
    "part-name": "GaN transmit/receive module",
    "part-unit": "piece",
    "statement": "Declared from our smelter reports.",
    "materials-0-material": "Ga",
    "materials-0-mass_g": "0,84",
    "materials-0-recycled_share": "",
    "materials-0-extraction-0-country": "cn",
    "materials-0-extraction-0-share": "0.9",
    "materials-0-processing-0-country": "CN",
    "materials-0-processing-0-share": "0.98",
    "materials-0-processing-0-facility": "Refinery 7",
    "components-0-part_number": "MMIC-7",
    "components-0-supplier": "",
    "components-0-supplier_name": "Moselle Foil SA",
    "components-0-supplier_country": "LU",
    "components-0-quantity": "4",
    "components-0-request_disclosure": "on",
    "components-0-disclose_supplier_to": "requester",
}


@pytest.fixture
def world(make_org, session_factory):
    """A supplier with a person signed in elsewhere, an OEM, and a helper to ask the supplier about a part."""
    supplier, oem = (
        make_org("lumen", name="Lumen Compound GmbH"),
        make_org("noordhaven", name="Noordhaven Naval"),
    )

    def ask(part: str, *, due_in: int | None = None, status: str | None = None) -> str:
        with session_factory() as session:
            requester = session.get(Organization, oem.organization.id)
            request = create_request(
                session, requester, supplier_slug="lumen", part_number=part, program="ZH"
            )
            if due_in is not None:
                request.due_date = (utcnow() + timedelta(days=due_in)).date()
            if status is not None:
                request.status = status
            session.commit()
            return request.id

    return {"supplier": supplier, "oem": oem, "ask": ask}


def ask_for_payload(client, url, fields):
    """Press "Download the payload to sign with the CLI" (the editor's script asks the same)."""
    token = csrf_of(client.get(url).get_data(as_text=True))
    return client.post(url, data={**fields, "csrf_token": token, "action": "payload"})


def submit_form(client, url, fields, member, *, tamper=None):
    """Do what the editor's script does: get the payload, sign it, post the envelope with the form."""
    payload_answer = ask_for_payload(client, url, fields)
    assert payload_answer.status_code == 200
    token = csrf_of(client.get(url).get_data(as_text=True))
    assert payload_answer.mimetype == "application/json"
    payload = payload_answer.get_data()
    if tamper is not None:
        payload = json.dumps(tamper(json.loads(payload))).encode()
    envelope = signing.sign_payload(payload, member.private_key).decode()
    return client.post(url, data={**fields, "csrf_token": token, "action": "submit", "envelope": envelope})


def test_the_inbox_lists_overdue_requests_first_each_by_due_date_with_requester(client, world, signed_in):
    long_late = world["ask"]("LONG-LATE", due_in=-10, status="overdue")
    late = world["ask"]("LATE", due_in=-3, status="overdue")
    soon = world["ask"]("SOON", due_in=3)
    later = world["ask"]("LATER", due_in=30)
    past = world["ask"]("PAST", due_in=-2)
    world["ask"]("DONE", status="answered")
    signed_in(world["supplier"])
    page = client.get("/inbox").get_data(as_text=True)
    order = [m for m in re.findall(r"/requests/([0-9a-f-]{36})\"", page)]
    # Overdue ones first, then open ones, each by due date, the earliest first (neither the newest nor the
    # oldest filed first); the sweep has not yet marked PAST overdue, but its badge says it is.
    assert order == [long_late, late, past, soon, later]
    assert "Noordhaven Naval" in page
    assert (utcnow() + timedelta(days=3)).date().isoformat() in page
    assert page.count(">overdue</span>") == 3
    answered = client.get("/inbox?tab=answered").get_data(as_text=True)
    assert "DONE" in answered and "SOON" not in answered


def test_declining_needs_a_reason_shown_next_to_the_field(client, world, signed_in, session_factory):
    request_id = world["ask"]("P-1")
    signed_in(world["supplier"])
    token = csrf_of(client.get(f"/requests/{request_id}").get_data(as_text=True))
    empty = client.post(f"/requests/{request_id}/decline", data={"reason": "  ", "csrf_token": token})
    assert empty.status_code == 422
    html = empty.get_data(as_text=True)
    assert field_error(html, "reason") == "Give a reason for declining"
    assert "Why you decline: Give a reason for declining" in html  # the summary at the top

    done = client.post(
        f"/requests/{request_id}/decline", data={"reason": "Export controlled", "csrf_token": token}
    )
    assert done.status_code == 302
    with session_factory() as session:
        request = session.get(DisclosureRequest, request_id)
        assert (request.status, request.decline_reason) == ("declined", "Export controlled")


def test_the_payload_is_built_from_the_form_for_the_request_it_answers(client, world, signed_in):
    request_id = world["ask"]("TRM-2040")
    signed_in(world["supplier"])
    url = f"/requests/{request_id}/declare"
    editor = client.get(url).get_data(as_text=True)
    assert 'value="TRM-2040"' in editor and "readonly" in editor
    token = csrf_of(editor)
    answer = client.post(url, data={**FIELDS, "csrf_token": token, "action": "payload"})
    payload = json.loads(answer.get_data())
    assert payload["issuer"] == "lumen"
    assert payload["in_response_to"] == request_id
    assert payload["supersedes"] is None
    assert payload["part"] == {"number": "TRM-2040", "name": "GaN transmit/receive module", "unit": "piece"}
    assert payload["materials"] == [
        {
            "material": "Ga",
            "mass_g": 0.84,
            "extraction": [{"country": "CN", "share": 0.9}],
            "processing": [{"country": "CN", "share": 0.98, "facility": "Refinery 7"}],
            "recycled_share": 0.0,
        }
    ]
    assert payload["components"] == [
        {
            "part_number": "MMIC-7",
            "supplier": None,
            "quantity": 4,
            "request_disclosure": True,
            "disclose_supplier_to": ["requester"],
            "supplier_name": "Moselle Foil SA",
            "supplier_country": "LU",
        }
    ]
    assert 'filename="payload-TRM-2040.json"' in answer.headers["Content-Disposition"]


def test_a_signed_declaration_answers_the_request(client, world, signed_in, session_factory):
    request_id = world["ask"]("TRM-2040")
    signed_in(world["supplier"])
    answer = submit_form(client, f"/requests/{request_id}/declare", FIELDS, world["supplier"])
    assert answer.status_code == 302, answer.get_data(as_text=True)
    declaration_id = answer.headers["Location"].rsplit("/", 1)[1]
    with session_factory() as session:
        request = session.get(DisclosureRequest, request_id)
        assert (request.status, request.declaration_id) == ("answered", declaration_id)
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "signed and filed" in page
    assert "Refinery 7" in page
    envelope = client.get(f"/declarations/{declaration_id}/envelope.json")
    assert signing.verify_envelope(envelope.get_data(), signing.public_key_raw(world["supplier"].private_key))


def test_the_envelope_download_uses_standard_base64_whatever_was_filed(
    client, make_org, make_payload, sign, signed_in, url_safe_unpadded
):
    supplier = make_org("lumen")
    standard = sign(supplier, make_payload("lumen"))
    filed = client.post("/api/v1/declarations", data=url_safe_unpadded(standard), headers=supplier.headers)
    assert filed.status_code == 201
    declaration_id = filed.get_json()["id"]
    signed_in(supplier)
    download = client.get(f"/declarations/{declaration_id}/envelope.json")
    assert download.status_code == 200
    assert json.loads(download.data) == json.loads(standard)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"materials-0-mass_g": "a lot"}, "materials-0-mass_g", "Enter a number, e.g. 0.84"),
        ({"materials-0-mass_g": "-3"}, "materials-0-mass_g", "Enter 0 or more"),
        (
            {"materials-0-extraction-0-share": "1.5"},
            "materials-0-extraction-0-share",
            "Enter a share from 0 to 1 (0.9 = 90 %)",
        ),
        (
            {"materials-0-extraction-1-country": "AU", "materials-0-extraction-1-share": "0.3"},
            "materials-0-extraction",
            "more than 1",
        ),
        ({"materials-0-material": "Xx"}, "materials-0-material", "Xx is not one of its codes"),
        (
            {"materials-0-processing-0-country": "QQ"},
            "materials-0-processing-0-country",
            "QQ is not a country code: use a code of ISO 3166-1 alpha-2, e.g. CN",
        ),
        ({"components-0-quantity": "0"}, "components-0-quantity", "Enter a number greater than 0"),
        ({"components-0-quantity": ""}, "components-0-quantity", "Enter a value"),
        ({"components-0-supplier": "ghost-corp"}, "components-0-supplier", "not registered on the portal"),
        ({"part-number": ""}, "part-number", "Enter a value (at most 100 characters)"),
    ],
)
def test_the_payload_is_checked_as_filing_would_and_a_broken_rule_shown_next_to_its_field(
    client, world, signed_in, changes, field, message
):
    signed_in(world["supplier"])
    answer = ask_for_payload(client, "/declarations/new", {**FIELDS, **changes})
    assert answer.status_code == 422
    assert answer.mimetype == "text/html"  # the editor again, not a payload to sign
    assert "Content-Disposition" not in answer.headers
    html = answer.get_data(as_text=True)
    assert message.lower() in (field_error(html, field) or "").lower(), html[:3000]
    assert 'id="error-summary"' in html
    assert f'href="#{field}"' in html
    assert "Please correct what is marked below" in html
    # what was typed is still there
    assert f'value="{changes.get("part-number", "TRM-2040")}"' in html


#: What the payload schema and the core say that a person typing in the editor should never read.
SCHEMA_WORDS = re.compile(
    r"Longer than|Length must|Must be|Field may|Missing data|Not a valid|finite|NaN|Infinity|null|"
    r"supplier_name|_country|payload|supersedes|in_response_to|extraction|processing|lines|\\u|'\S+'"
)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"part-number": "P" * 101}, "part-number", "Enter a value (at most 100 characters)"),
        ({"part-name": "N" * 301}, "part-name", "Enter at most 300 characters"),
        ({"part-unit": "u" * 31}, "part-unit", "Enter a value (at most 30 characters)"),
        ({"program": "Z" * 101}, "program", "Enter at most 100 characters"),
        (
            {"materials-0-material": "Zz"},
            "materials-0-material",
            "Choose a material from the list: Zz is not",
        ),
        ({"materials-0-material": "Z" * 31}, "materials-0-material", "Enter a value (at most 30 characters)"),
        ({"materials-0-mass_g": ""}, "materials-0-mass_g", "Enter a value"),
        ({"materials-0-mass_g": "lots"}, "materials-0-mass_g", "Enter a number, e.g. 0.84"),
        ({"materials-0-mass_g": "-5"}, "materials-0-mass_g", "Enter 0 or more"),
        (
            {"materials-0-mass_g": "1e400"},
            "materials-0-mass_g",
            "Enter a smaller number: this one is too large",
        ),
        (
            {"materials-1-material": "Ga", "materials-1-mass_g": "1.7e308", "materials-0-mass_g": "1.7e308"},
            "materials-1-mass_g",
            "The Ga masses add up to more than 1.798e+308 g, more than can be stored: declare the mass in",
        ),
        ({"materials-0-recycled_share": "2"}, "materials-0-recycled_share", "Enter a share from 0 to 1"),
        ({"materials-0-recycled_share": "some"}, "materials-0-recycled_share", "Enter a number"),
        ({"materials-0-extraction-0-country": "CHN"}, "materials-0-extraction-0-country", "two-letter"),
        ({"materials-0-extraction-0-country": ""}, "materials-0-extraction-0-country", "two-letter"),
        ({"materials-0-extraction-0-share": ""}, "materials-0-extraction-0-share", "Enter a value"),
        ({"materials-0-extraction-0-share": "-0.1"}, "materials-0-extraction-0-share", "from 0 to 1"),
        (
            {"materials-0-extraction-1-country": "AU", "materials-0-extraction-1-share": "0.3"},
            "materials-0-extraction",
            "The shares of where it was mined add up to 1.2, more than 1 (100 %)",
        ),
        (
            {"materials-0-processing-1-country": "AU", "materials-0-processing-1-share": "0.5"},
            "materials-0-processing",
            "The shares of where it was refined add up to 1.48, more than 1 (100 %)",
        ),
        (
            {"materials-0-processing-0-facility": "F" * 201},
            "materials-0-processing-0-facility",
            "at most 200",
        ),
        ({"components-0-part_number": "C" * 101}, "components-0-part_number", "(at most 100 characters)"),
        (
            {"components-0-supplier": "ghost-corp"},
            "components-0-supplier",
            "ghost-corp is not registered on the portal: leave the supplier empty and enter its name and "
            "country instead",
        ),
        (
            {"components-0-supplier": "mod-nl"},
            "components-0-supplier",
            "mod-nl is the portal's authority, not a company: choose a company registered on the portal",
        ),
        (
            {"components-0-supplier_name": "S" * 201},
            "components-0-supplier_name",
            "Enter at most 200 characters",
        ),
        ({"components-0-supplier_country": "LUX"}, "components-0-supplier_country", "two-letter"),
        (
            {"components-0-supplier_country": "QQ"},
            "components-0-supplier_country",
            "QQ is not a country code",
        ),
        ({"components-0-quantity": "-1"}, "components-0-quantity", "Enter a number greater than 0"),
        ({"components-0-quantity": "many"}, "components-0-quantity", "Enter a number"),
        ({"components-0-quantity": "1e400"}, "components-0-quantity", "Enter a smaller number"),
    ],
)
def test_every_message_the_editor_can_show_is_in_plain_words(
    client, world, signed_in, make_org, changes, field, message
):
    make_org("mod-nl", kind="authority")
    signed_in(world["supplier"])
    answer = ask_for_payload(client, "/declarations/new", {**FIELDS, **changes})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    shown = unescape(field_error(html, field) or "")
    assert message in shown, html[html.index('id="error-summary"') :][:2000]
    assert not SCHEMA_WORDS.search(shown), shown
    summary = html[html.index('id="error-summary"') : html.index("</div>", html.index('id="error-summary"'))]
    assert not SCHEMA_WORDS.search(unescape(re.sub(r"<[^>]+>", "", summary))), summary


def test_the_version_and_the_request_a_declaration_concerns_are_said_in_words_at_the_part_number(
    client, world, signed_in
):
    signed_in(world["supplier"])
    first = submit_form(client, "/declarations/new", FIELDS, world["supplier"])
    declaration_id = first.headers["Location"].rsplit("/", 1)[1]

    def shown(answer, status):
        assert answer.status_code == status
        html = answer.get_data(as_text=True)
        summary = html[
            html.index('id="error-summary"') : html.index("</div>", html.index('id="error-summary"'))
        ]
        assert not SCHEMA_WORDS.search(unescape(re.sub(r"<[^>]+>", "", summary))), summary
        assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", summary), summary  # no ids to puzzle over
        return unescape(field_error(html, "part-number") or "")

    # a new declaration of a part that has one
    assert shown(ask_for_payload(client, "/declarations/new", FIELDS), 409) == (
        "TRM-2040 has a declaration already: open it under Declarations and file a new version of it, or "
        "change the part number"
    )
    # a new version, or an answer, of another part than the one it is about
    supersede = f"/declarations/{declaration_id}/supersede"
    assert shown(ask_for_payload(client, supersede, {**FIELDS, "part-number": "OTHER"}), 422) == (
        "This is a new version of TRM-2040: keep the part number TRM-2040"
    )
    request_id = world["ask"]("TRM-2040")
    answer_url = f"/requests/{request_id}/declare"
    assert shown(ask_for_payload(client, answer_url, {**FIELDS, "part-number": "OTHER"}), 422) == (
        "This answers Noordhaven Naval's request for TRM-2040: keep the part number TRM-2040"
    )
    # a new version built on the version that someone replaced before it was submitted (a second tab)
    payload = ask_for_payload(client, supersede, FIELDS).get_data()
    assert submit_form(client, supersede, FIELDS, world["supplier"]).status_code == 302
    token = csrf_of(client.get("/declarations/new").get_data(as_text=True))
    envelope = signing.sign_payload(payload, world["supplier"].private_key).decode()
    late = client.post(
        "/declarations/new", data={**FIELDS, "csrf_token": token, "action": "submit", "envelope": envelope}
    )
    assert shown(late, 409) == (
        "A newer version of TRM-2040 was filed after this page was opened: open the current version and file "
        "a new version of it"
    )


def test_a_signed_payload_that_breaks_a_rule_shows_the_error_next_to_its_field(client, world, signed_in):
    def negative_mass(payload):
        payload["materials"][0]["mass_g"] = -3
        return payload

    signed_in(world["supplier"])
    answer = submit_form(client, "/declarations/new", FIELDS, world["supplier"], tamper=negative_mass)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert field_error(html, "materials-0-mass_g") == "Enter 0 or more"
    # the heading points to the fields; the core's "the payload breaks the declaration rules" says less
    assert "Please correct what is marked below" in html
    assert "the payload breaks the declaration rules" not in html


def test_a_bad_signature_is_shown_next_to_the_key_file(client, world, signed_in, make_org):
    signed_in(world["supplier"])
    stranger = make_org("stranger")
    answer = submit_form(client, "/declarations/new", FIELDS, stranger)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    # another organisation's key is simply not one of ours: the page says what to do, not whose key it is
    assert field_error(html, "signing") == (
        "This key is not registered for Lumen Compound GmbH: register its public key under Settings"
    )
    assert "keyid:" not in html


def test_submitting_without_a_signature_asks_for_the_key_file(client, world, signed_in):
    signed_in(world["supplier"])
    token = csrf_of(client.get("/declarations/new").get_data(as_text=True))
    answer = client.post("/declarations/new", data={**FIELDS, "csrf_token": token, "action": "submit"})
    assert answer.status_code == 422
    assert "key file" in field_error(answer.get_data(as_text=True), "signing")


def test_rows_are_added_and_removed_without_javascript(client, world, signed_in):
    signed_in(world["supplier"])
    token = csrf_of(client.get("/declarations/new").get_data(as_text=True))
    added = client.post(
        "/declarations/new", data={**FIELDS, "csrf_token": token, "action": "add-materials-0-processing"}
    )
    html = added.get_data(as_text=True)
    assert 'id="materials-0-processing-1-country"' in html
    assert 'value="Refinery 7"' in html  # what was typed stays
    removed = client.post(
        "/declarations/new", data={**FIELDS, "csrf_token": token, "action": "remove-components-0"}
    ).get_data(as_text=True)
    assert 'id="components-0-part_number"' not in removed
    more = client.post("/declarations/new", data={**FIELDS, "csrf_token": token, "action": "add-component"})
    assert 'id="components-1-part_number"' in more.get_data(as_text=True)


def test_an_envelope_signed_with_the_cli_can_be_uploaded(client, world, signed_in, make_payload, sign):
    signed_in(world["supplier"])
    token = csrf_of(client.get("/declarations/upload").get_data(as_text=True))
    envelope = sign(world["supplier"], make_payload("lumen", "FOIL-2"))
    import io

    answer = client.post(
        "/declarations/upload",
        data={"csrf_token": token, "envelope_file": (io.BytesIO(envelope), "envelope.json")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    again = client.post("/declarations/upload", data={"csrf_token": token, "envelope_text": "not json"})
    assert again.status_code == 400
    assert field_error(again.get_data(as_text=True), "envelope_file") == (
        "This is not a signed envelope: paste the JSON that tiertrace sign printed, or choose its file"
    )


def test_the_history_lists_every_version_and_supersede_prefills_the_editor(
    client, world, signed_in, session_factory
):
    signed_in(world["supplier"])
    first = submit_form(client, "/declarations/new", FIELDS, world["supplier"])
    first_id = first.headers["Location"].rsplit("/", 1)[1]

    duplicate = ask_for_payload(client, "/declarations/new", FIELDS)  # refused before it is signed
    assert duplicate.status_code == 409
    assert "TRM-2040 has a declaration already: open it under Declarations" in duplicate.get_data(
        as_text=True
    )

    url = f"/declarations/{first_id}/supersede"
    editor = client.get(url).get_data(as_text=True)
    assert 'value="Refinery 7"' in editor and 'value="0.84"' in editor
    second = submit_form(client, url, {**FIELDS, "materials-0-mass_g": "0.9"}, world["supplier"])
    assert second.status_code == 302
    second_id = second.headers["Location"].rsplit("/", 1)[1]
    with session_factory() as session:
        assert session.get(Declaration, second_id).supersedes_id == first_id
        assert session.get(Declaration, first_id).is_current is False

    history = client.get("/declarations").get_data(as_text=True)
    assert history.count("/declarations/" + first_id) >= 1 and second_id in history
    assert "superseded" in history
    assert client.get(url).status_code == 302  # the old version points to the new one


def test_every_field_error_of_the_payload_comes_in_one_answer(client, world, signed_in):
    signed_in(world["supplier"])
    fields = {
        **FIELDS,
        "materials-0-mass_g": "-5",  # the schema
        "materials-0-extraction-0-country": "XX",  # the reference list
        "materials-0-extraction-1-country": "AU",
        "materials-0-extraction-1-share": "0.3",  # 0.9 + 0.3: the schema's rule over the stage
        "components-0-supplier": "ghost-corp",  # the registered organisations
    }
    html = ask_for_payload(client, "/declarations/new", fields).get_data(as_text=True)
    assert field_error(html, "materials-0-mass_g") == "Enter 0 or more"
    assert "XX is not a country code" in field_error(html, "materials-0-extraction-0-country")
    assert "more than 1" in field_error(html, "materials-0-extraction")
    assert "not registered on the portal" in field_error(html, "components-0-supplier")


def test_declining_a_request_declined_already_says_so_and_keeps_the_first_reason(
    client, world, signed_in, session_factory
):
    request_id = world["ask"]("P1")
    signed_in(world["supplier"])
    token = csrf_of(client.get(f"/requests/{request_id}").get_data(as_text=True))
    first = client.post(
        f"/requests/{request_id}/decline", data={"reason": "Not our part", "csrf_token": token}
    )
    assert first.status_code == 302 and first.headers["Location"] == "/inbox"
    assert "You declined the request for P1." in client.get("/inbox").get_data(as_text=True)
    with session_factory() as session:
        day = session.get(DisclosureRequest, request_id).answered_at.strftime("%Y-%m-%d")

    # a second tab, a double submit: with another reason, with none at all
    for reason in ("Export controlled", "", "x" * 20_000):
        again = client.post(f"/requests/{request_id}/decline", data={"reason": reason, "csrf_token": token})
        assert again.status_code == 302
        assert again.headers["Location"] == f"/requests/{request_id}"  # not the inbox, as after a decline
        page = client.get(again.headers["Location"]).get_data(as_text=True)
        assert f"You had declined this request already, on {day}; your first reason stands." in page
        assert "You declined the request for" not in page
        assert "Not our part" in page
    with session_factory() as session:
        request = session.get(DisclosureRequest, request_id)
        assert (request.status, request.decline_reason) == ("declined", "Not our part")
        assert request.answered_at.strftime("%Y-%m-%d") == day


def test_a_reason_for_declining_is_limited_as_in_the_api_and_the_field_says_so(
    client, world, signed_in, session_factory
):
    request_id = world["ask"]("P1")
    signed_in(world["supplier"])
    page = client.get(f"/requests/{request_id}").get_data(as_text=True)
    assert 'maxlength="10000"' in page and "at most 10,000 characters" in page
    token = csrf_of(page)
    long = client.post(f"/requests/{request_id}/decline", data={"reason": "x" * 20_000, "csrf_token": token})
    assert long.status_code == 422
    html = long.get_data(as_text=True)
    assert field_error(html, "reason") == "Shorten the reason to at most 10,000 characters (it has 20,000)"
    assert "x" * 20_000 in html  # what was typed stays, to shorten
    with session_factory() as session:
        request = session.get(DisclosureRequest, request_id)
        assert (request.status, request.decline_reason) == ("open", None)
    exact = client.post(f"/requests/{request_id}/decline", data={"reason": "y" * 10_000, "csrf_token": token})
    assert exact.status_code == 302
    with session_factory() as session:
        assert session.get(DisclosureRequest, request_id).decline_reason == "y" * 10_000


def test_declining_a_request_answered_already_says_when_and_with_which_declaration(
    client, world, signed_in, session_factory
):
    request_id = world["ask"]("TRM-2040")
    signed_in(world["supplier"])
    token = csrf_of(client.get(f"/requests/{request_id}").get_data(as_text=True))  # opened before answering
    answered = submit_form(client, f"/requests/{request_id}/declare", FIELDS, world["supplier"])
    declaration_id = answered.headers["Location"].rsplit("/", 1)[1]
    with session_factory() as session:
        day = session.get(DisclosureRequest, request_id).answered_at.strftime("%Y-%m-%d")

    for reason in ("Export controlled", ""):  # with or without a reason, the answer is what matters
        refused = client.post(f"/requests/{request_id}/decline", data={"reason": reason, "csrf_token": token})
        assert refused.status_code == 409
        html = refused.get_data(as_text=True)
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
        assert f"This request was answered on {day} with declaration {declaration_id[:8]}; " in text
        assert "it can no longer be declined." in text
        assert f'href="/declarations/{declaration_id}"' in html
        assert "Request for TRM-2040" in html  # the request's own page, not an error page
        assert "Conflict" not in html and "declaration_id" not in html
    with session_factory() as session:
        assert session.get(DisclosureRequest, request_id).status == "answered"


def test_an_unregistered_signing_key_says_so_and_links_to_the_settings_keys(client, world, signed_in):
    class Unregistered:
        private_key = signing.generate_private_key()

    signed_in(world["supplier"])
    answer = submit_form(client, "/declarations/new", FIELDS, Unregistered)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert field_error(html, "signing") == (
        "This key is not registered for Lumen Compound GmbH: register its public key under Settings"
    )
    assert '<a href="/settings#keys-title">register its public key under Settings</a>' in html
    assert 'id="keys-title"' in client.get("/settings").get_data(as_text=True)
    assert "keyid:" not in html and "unknown or revoked" not in html


def test_an_added_component_row_left_blank_stays_with_its_errors(client, world, signed_in):
    signed_in(world["supplier"])
    fields = {key: value for key, value in FIELDS.items() if not key.startswith("components-")}
    token = csrf_of(client.get("/declarations/new").get_data(as_text=True))
    added = client.post("/declarations/new", data={**fields, "csrf_token": token, "action": "add-component"})
    blank_row = {
        "components-0-part_number": "",
        "components-0-supplier": "",
        "components-0-quantity": "",
        "components-0-supplier_name": "",
        "components-0-supplier_country": "",
        "components-0-disclose_supplier_to": "authority",
    }
    assert 'id="components-0-part_number"' in added.get_data(as_text=True)
    answer = ask_for_payload(client, "/declarations/new", {**fields, **blank_row})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert 'id="components-0-part_number"' in html  # the row is still there
    assert field_error(html, "components-0-part_number") == "Enter a value (at most 100 characters)"
    assert field_error(html, "components-0-quantity") == "Enter a value"


def test_the_error_summary_lists_errors_in_the_order_of_the_fields_on_the_page(client, world, signed_in):
    signed_in(world["supplier"])
    fields = {
        **FIELDS,
        "materials-0-mass_g": "-5",
        "materials-0-recycled_share": "2",
        "materials-0-extraction-0-country": "XX",
        "materials-0-extraction-0-share": "1.5",
        "materials-0-processing-0-share": "abc",
        "components-0-quantity": "0",
    }
    html = ask_for_payload(client, "/declarations/new", fields).get_data(as_text=True)
    summary = html[html.index('id="error-summary"') : html.index("</ul>", html.index('id="error-summary"'))]
    assert re.findall(r'href="#([^"]+)"', summary) == [
        "materials-0-mass_g",
        "materials-0-recycled_share",
        "materials-0-extraction-0-country",
        "materials-0-extraction-0-share",
        "materials-0-processing-0-share",
        "components-0-quantity",
    ]
    assert "Material 1, mined in 1: share: Enter a share from 0 to 1 (0.9 = 90 %)" in summary


def test_the_api_keeps_the_schemas_own_messages(client, make_org, make_payload, sign):
    supplier = make_org("lumen")
    payload = make_payload("lumen")
    payload["materials"] = [{"material": "Ga", "mass_g": None, "extraction": [{"country": "XX", "share": 2}]}]
    answer = client.post("/api/v1/declarations", data=sign(supplier, payload), headers=supplier.headers)
    assert answer.status_code == 422
    details = json.dumps(answer.get_json())
    assert "Field may not be null." in details
    assert "use ISO 3166-1 alpha-2" in details
    assert "Enter a" not in details


def test_a_refused_upload_speaks_plainly_and_keeps_what_was_pasted(
    client, world, signed_in, make_payload, sign
):
    signed_in(world["supplier"])
    token = csrf_of(client.get("/declarations/upload").get_data(as_text=True))
    pasted = '{"payloadType": "x", "payload": "e30=", "signatures": [{"keyid": "k", "sig": "AA=="}]} <oops>'
    answer = client.post("/declarations/upload", data={"csrf_token": token, "envelope_text": pasted})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "Expecting value" not in html and "`" not in html
    assert "&lt;oops&gt;</textarea>" in html  # the text is back in the box, escaped

    wrong_type = json.loads(sign(world["supplier"], make_payload("lumen", "FOIL-3")))
    wrong_type["payloadType"] = "application/vnd.tiertrace.declaration+json"
    answer = client.post(
        "/declarations/upload", data={"csrf_token": token, "envelope_text": json.dumps(wrong_type)}
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert field_error(html, "envelope_file").startswith(
        "This envelope does not hold a tiertrace declaration"
    )
    assert "<code>payloadType</code>" not in html and "field:" not in html

    unregistered = signing.sign_payload(
        json.dumps(make_payload("lumen", "FOIL-4")).encode(), signing.generate_private_key()
    ).decode()
    answer = client.post("/declarations/upload", data={"csrf_token": token, "envelope_text": unregistered})
    html = answer.get_data(as_text=True)
    assert field_error(html, "envelope_file") == (
        "This key is not registered for Lumen Compound GmbH: register its public key under Settings"
    )
    assert 'href="/settings#keys-title"' in html

    broken = make_payload("lumen", "FOIL-5")
    broken["materials"] = [{"material": "Ga", "mass_g": -1}]
    answer = client.post(
        "/declarations/upload",
        data={"csrf_token": token, "envelope_text": sign(world["supplier"], broken).decode()},
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "<li>Material 1: mass: Enter 0 or more</li>" in html
    assert "materials.0.mass_g" not in html


def test_the_editor_of_a_request_answered_already_files_nothing_and_says_so(
    client, world, signed_in, session_factory
):
    # The browser's Back after filing, or a second tab: the editor must not file a second version.
    request_id = world["ask"]("TRM-2040")
    signed_in(world["supplier"])
    url = f"/requests/{request_id}/declare"
    token = csrf_of(client.get(url).get_data(as_text=True))
    first = submit_form(client, url, FIELDS, world["supplier"])
    assert first.status_code == 302
    declaration_id = first.headers["Location"].rsplit("/", 1)[1]

    again = client.get(url)
    assert again.status_code == 409
    html = again.get_data(as_text=True)
    assert "nothing new was filed" in html and f"declaration {declaration_id[:8]}" in html
    assert 'id="key-file"' not in html  # no editor to sign in
    # The editor's script asks for the payload first: a 409, so it posts the form and shows the page.
    assert client.post(url, data={**FIELDS, "csrf_token": token, "action": "payload"}).status_code == 409
    with session_factory() as session:
        assert session.query(Declaration).filter_by(part_number="TRM-2040").count() == 1


def test_a_supplier_that_declined_a_request_may_still_answer_it(client, world, signed_in):
    # As a declaration naming the request in in_response_to answers it (and the API's answer endpoint).
    request_id = world["ask"]("TRM-2040", status="declined")
    signed_in(world["supplier"])
    page = client.get(f"/requests/{request_id}").get_data(as_text=True)
    assert "Changed your mind?" in page and f"/requests/{request_id}/declare" in page
    answer = client.get(f"/requests/{request_id}/declare")
    assert answer.status_code == 200
    assert 'id="key-file"' in answer.get_data(as_text=True)  # the editor, to sign in


def test_a_revoked_signing_key_is_said_in_words_without_the_cores_detail_keys(
    client, world, signed_in, session_factory
):
    from tiertrace.organizations.services import revoke_key

    with session_factory() as session:
        organization = session.get(Organization, world["supplier"].organization.id)
        revoke_key(session, organization, world["supplier"].keyid)
        session.commit()
    signed_in(world["supplier"])
    answer = submit_form(client, "/declarations/new", FIELDS, world["supplier"])
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert field_error(html, "signing").startswith("This key was revoked on ")
    assert "revoked_on" not in html and "problem:" not in html


def test_the_editor_says_so_when_the_organisation_has_no_signing_key_to_sign_with(
    client, world, signed_in, session_factory
):
    signed_in(world["supplier"])
    assert 'id="signing-no-key"' not in client.get("/declarations/new").get_data(as_text=True)
    from tiertrace.organizations.services import revoke_key

    with session_factory() as session:
        organization = session.get(Organization, world["supplier"].organization.id)
        revoke_key(session, organization, world["supplier"].keyid)
        session.commit()
    html = client.get("/declarations/new").get_data(as_text=True)
    assert 'id="signing-no-key"' in html
    assert "Lumen Compound GmbH has no signing key yet" in html
    assert 'href="/settings#keys-title"' in html


def test_two_letters_that_name_no_country_are_named_in_the_error(client, world, signed_in):
    signed_in(world["supplier"])
    fields = {**FIELDS, "materials-0-extraction-0-country": "XX"}
    html = ask_for_payload(client, "/declarations/new", fields).get_data(as_text=True)
    assert field_error(html, "materials-0-extraction-0-country") == (
        "XX is not a country code: use a code of ISO 3166-1 alpha-2, e.g. CN"
    )
