"""The editor's form model: typed text to payload, domain error keys to fields (portal.web.forms)."""

from __future__ import annotations

import json
import re

from werkzeug.datastructures import MultiDict

from portal.web.forms import DeclarationForm, field_errors, plain_message
from schemas.declaration import DeclarationPayloadSchema
from tiertrace.declarations.rules import mass_total_problems, reference_problems
from tiertrace.declarations.services import flatten_messages


def form_of(**fields: str) -> DeclarationForm:
    return DeclarationForm.from_form(MultiDict(fields))


def payload_of(form: DeclarationForm) -> dict:
    return form.to_payload(
        issuer="lumen",
        declaration_id="id",
        issued_at="2025-01-01T00:00:00Z",
        in_response_to=None,
        supersedes=None,
    )


def test_numbers_are_parsed_with_a_decimal_point_or_comma_and_anything_else_stays_text():
    form = form_of(
        **{
            "materials-0-material": "Ga",
            "materials-0-mass_g": "0,84",
            "materials-1-material": "Nd",
            "materials-1-mass_g": "1e3",
            "materials-2-material": "Co",
            "materials-2-mass_g": "nan",
            "materials-3-material": "W",
            "materials-3-mass_g": "",
        }
    )
    masses = [line["mass_g"] for line in payload_of(form)["materials"]]
    assert masses == [0.84, 1000, "nan", None]


def test_blank_rows_are_pruned_before_the_payload_so_indices_match_the_fields():
    form = form_of(
        **{
            "materials-0-material": "",
            "materials-0-mass_g": "",
            "materials-0-extraction-0-country": "",
            "materials-1-material": "Ga",
            "materials-1-mass_g": "1",
            "materials-1-extraction-0-country": "",
            "materials-1-extraction-0-share": "",
            "materials-1-extraction-1-country": "CN",
            "materials-1-extraction-1-share": "0.5",
        }
    ).prune()
    payload = payload_of(form)
    assert payload["materials"] == [
        {
            "material": "Ga",
            "mass_g": 1,
            "extraction": [{"country": "CN", "share": 0.5}],
            "processing": [],
            "recycled_share": 0.0,
        }
    ]
    assert "materials-0-extraction-0-share" in form.field_order()
    assert "materials-1-mass_g" not in form.field_order()


def test_a_round_trip_through_the_payload_keeps_every_value():
    form = form_of(
        **{
            "part-number": "TRM-2040",
            "program": "ZH",
            "materials-0-material": "Ga",
            "materials-0-mass_g": "0.84",
            "materials-0-processing-0-country": "CN",
            "materials-0-processing-0-share": "0.98",
            "materials-0-processing-0-facility": "Refinery 7",
            "components-0-part_number": "MMIC-7",
            "components-0-supplier": "silesia",
            "components-0-quantity": "2.5",
            "components-0-disclose_supplier_to": "chain",
        }
    )
    payload = payload_of(form)
    assert payload["components"][0]["request_disclosure"] is False  # an unticked box is not sent
    again = DeclarationForm.from_payload(payload)
    assert payload_of(again) == payload


def test_domain_error_keys_land_on_their_fields_or_the_nearest_rendered_group():
    form = form_of(**{"materials-0-material": "Ga", "components-0-part_number": "X"})
    by_field, general = field_errors(
        {
            "materials.0.mass_g": "must be a number",
            "materials.0.extraction": "the extraction shares add up to 1.3, more than 1",
            "components.0.unexpected": "Unknown field.",
            "part.number": "required",
            "keyid": "ed25519:abc",
            "in_response_to": "bad",
        },
        form.field_order(),
    )
    assert by_field == {
        "materials-0-mass_g": "Enter a number, e.g. 0.84",
        "materials-0-extraction": "The shares of where it was mined add up to 1.3, more than 1 (100 %)",
        "components-0": "This is not part of a declaration",
        "part-number": "required",
        "signing": "keyid: ed25519:abc",
    }
    assert general == {"in_response_to": "bad"}


def test_row_buttons_add_and_remove_rows():
    form = form_of(**{"materials-0-material": "Ga"})
    assert form.apply("add-materials-0-processing")
    assert len(form.materials[0].processing) == 1
    assert form.apply("remove-materials-0-processing-0")
    assert form.materials[0].processing == []
    assert form.apply("add-component") and len(form.components) == 1
    assert form.apply("remove-components-0") and form.components == []
    assert form.apply("remove-materials-7")  # out of range: nothing happens
    assert not form.apply("submit")


def test_the_error_summary_names_fields_as_people_read_them():
    from portal.web.forms import field_label

    assert field_label("materials-0-extraction-1-share") == "Material 1, mined in 2: share"
    assert field_label("components-3-supplier") == "Component 4: supplier"
    assert field_label("materials-0-processing") == "Material 1, refined in"
    assert field_label("part-number") == "Part number"
    assert field_label("new_password") == "New password"
    assert field_label("reason") == "Why you decline"


def test_the_schemas_common_messages_are_put_in_plain_words_for_the_editor():
    assert plain_message("Field may not be null.") == "Enter a value"
    assert plain_message("Missing data for required field.") == "Enter a value"
    assert (
        plain_message("Must be greater than or equal to 0 and less than or equal to 1.")
        == "Enter a share from 0 to 1 (0.9 = 90 %)"
    )
    assert plain_message("unknown country code 'XX'; use ISO 3166-1 alpha-2") == (
        "XX is not a country code: use a code of ISO 3166-1 alpha-2, e.g. CN"
    )
    assert plain_message("Length must be 2.") == "Use a two-letter country code (ISO 3166-1 alpha-2), e.g. CN"
    assert plain_message("Must be greater than or equal to 0.") == "Enter 0 or more"
    assert plain_message("Length must be between 1 and 100.") == "Enter a value (at most 100 characters)"
    # a field with two messages that say the same in plain words says it once
    assert plain_message("Length must be 2.; unknown country code 'X'; use ISO 3166-1 alpha-2") == (
        "Use a two-letter country code (ISO 3166-1 alpha-2), e.g. CN"
    )
    # anything else is left as the core says it
    assert plain_message("the moon is made of cheese") == "the moon is made of cheese"


def test_the_cores_own_payload_messages_are_put_in_plain_words():
    # check_payload's (the database's limits, the registered suppliers), which need no field of the schema
    assert plain_message("text may not hold NUL (\\u0000) or an unpaired surrogate (\\ud800-\\udfff)") == (
        "This text holds a character that cannot be stored (a NUL, or half of a character pair): retype it"
    )
    assert plain_message("unknown material code ''; use a code of the CRM reference list") == (
        "Choose a material from the list"
    )
    registered = (
        f"{'ops'!r} is the portal's operator, not a company; a component's supplier must be a registered "
        "company"
    )
    assert plain_message(registered) == (
        "ops is the portal's operator, not a company: choose a company registered on the portal"
    )
    unknown = (
        f"{'o-brien'!r} is not a registered organisation; use null and supplier_name/supplier_country for a "
        "supplier that is not on the portal yet"
    )
    assert plain_message(unknown) == (
        "o-brien is not registered on the portal: leave the supplier empty and enter its name and country "
        "instead"
    )


#: What a message may not say once put in plain words: the schema's phrases, JSON names, quoted values.
SCHEMA_WORDS = re.compile(
    r"Longer than|Length must|Must be|Field may|Missing data|Not a valid|Invalid|Unknown|finite|NaN|"
    r"Infinity|null|supplier_name|_country|payload|supersedes|in_response_to|extraction|processing|lines|"
    r"\\u|'\S+'|must be"
)
_BAD_VALUES = (
    None,
    "",
    "x" * 400,
    "XX",
    "2",
    -1,
    0,
    1,
    2,
    1e308,
    float("inf"),
    float("nan"),
    10**400,
    True,
    [],
    {},
)


def _paths(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


def _with(payload, path, value):
    copy = json.loads(json.dumps(payload))
    target = copy
    for key in path[:-1]:
        target = target[key]
    if value is _MISSING and isinstance(target, list):
        target.append("an extra row")
    elif value is _MISSING and isinstance(target[path[-1]], dict):
        target[path[-1]]["colour"] = "blue"  # a key the schema does not know
    elif value is _MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


_MISSING = object()


def test_every_message_the_schema_and_rules_give_about_a_field_of_the_editor_is_put_in_plain_words():
    """Every field of the editor, every kind of bad value: whatever the schema and the core's payload rules
    say about it reads as people's words (a new message without its plain wording fails here)."""
    payload = payload_of(
        form_of(
            **{
                "part-number": "P-1",
                "part-name": "Module",
                "program": "ZH",
                "materials-0-material": "Ga",
                "materials-0-mass_g": "1",
                "materials-0-recycled_share": "0.1",
                "materials-0-extraction-0-country": "CN",
                "materials-0-extraction-0-share": "0.5",
                "materials-0-extraction-0-facility": "Mine 3",
                "materials-0-processing-0-country": "CN",
                "materials-0-processing-0-share": "0.5",
                "materials-0-processing-1-country": "AU",
                "materials-0-processing-1-share": "0.4",
                "materials-0-extraction-1-country": "AU",
                "materials-0-extraction-1-share": "0.4",
                "materials-1-material": "Ga",
                "materials-1-mass_g": "1e308",
                "components-0-part_number": "C-1",
                "components-0-supplier_name": "Moselle Foil SA",
                "components-0-supplier_country": "LU",
                "components-0-quantity": "2",
                "components-0-request_disclosure": "on",
                "components-0-disclose_supplier_to": "chain",
            }
        )
    )
    payload["id"] = "6f1d7a3e-0c59-4a8e-9d0e-2f4f3b1c5a77"
    assert not DeclarationPayloadSchema().validate(payload)  # the base is valid
    editor_keys = ("part", "program", "materials", "components", "statement")
    seen: dict[str, str] = {}
    for path in _paths(payload):
        if path[0] not in editor_keys:
            continue
        for value in (*_BAD_VALUES, _MISSING):
            bad = _with(payload, path, value)
            # as `check_payload` does: the schema's message wins for a field both refuse
            messages = reference_problems(bad) | mass_total_problems(bad)
            messages |= flatten_messages(DeclarationPayloadSchema().validate(bad))
            for key, message in messages.items():
                if key.split(".")[0] in editor_keys:
                    seen[message] = plain_message(message)
    # the battery reaches the schema's many messages, and the rules' (the core's own words in `seen`)
    assert len(seen) > 20
    for words in ("extraction shares", "processing shares", "lines add up", "unknown material code"):
        assert any(words in message for message in seen), words
    unplain = {message: text for message, text in seen.items() if SCHEMA_WORDS.search(text)}
    assert not unplain, unplain


def test_field_errors_come_in_the_order_the_fields_appear_on_the_page():
    form = form_of(
        **{
            "part-number": "P",
            "materials-0-material": "Ga",
            "materials-0-extraction-0-country": "XX",
            "materials-0-processing-0-country": "CN",
            "components-0-part_number": "",
        }
    )
    by_field, _ = field_errors(
        {
            "statement": "too long",
            "materials.0.mass_g": "Must be greater than or equal to 0.",
            "materials.0.extraction.0.share": "must be a number",
            "components.0.part_number": "Length must be between 1 and 100.",
            "materials.0.processing.0.share": "must be a number",
            "materials.0.recycled_share": "must be a number",
            "materials.0.extraction.0.country": "unknown country code 'XX'; use ISO 3166-1 alpha-2",
            "part.number": "required",
        },
        form.field_order(),
    )
    assert list(by_field) == [
        "part-number",
        "materials-0-mass_g",
        "materials-0-recycled_share",
        "materials-0-extraction-0-country",
        "materials-0-extraction-0-share",
        "materials-0-processing-0-share",
        "components-0-part_number",
        "statement",
    ]


def test_prune_keeps_a_component_row_someone_added_even_when_it_is_blank():
    form = form_of(
        **{
            "materials-0-material": "",
            "materials-0-extraction-0-country": "",
            "components-0-part_number": "",
            "components-0-quantity": "",
            "components-0-disclose_supplier_to": "authority",
        }
    ).prune()
    assert form.materials == []  # the blank row the editor opens with
    assert len(form.components) == 1
    assert "components-0-part_number" in form.field_order()
