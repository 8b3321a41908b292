"""The editor's form model: typed text to payload, domain error keys to fields (portal.web.forms)."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from portal.web.forms import DeclarationForm, field_errors


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
    assert "materials-0-extraction-0-share" in form.field_ids()
    assert "materials-1-mass_g" not in form.field_ids()


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
        form.field_ids(),
    )
    assert by_field == {
        "materials-0-mass_g": "must be a number",
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
