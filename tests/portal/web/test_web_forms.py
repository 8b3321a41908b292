"""The editor's form model: typed text to payload, domain error keys to fields (portal.web.forms)."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from portal.web.forms import DeclarationForm, field_errors, plain_message


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
        "materials-0-extraction": "the extraction shares add up to 1.3, more than 1",
        "components-0": "Unknown field.",
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
    assert plain_message("the extraction shares add up to 1.3, more than 1") == (
        "the extraction shares add up to 1.3, more than 1"
    )


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
