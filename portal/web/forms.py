"""The declaration editor's form: rows of text fields in, a payload v1 out, domain errors back to fields.

Field names mirror the payload's JSON paths with "-" for ".": `materials-0-extraction-1-share` is
`materials[0].extraction[1].share`, so a domain error's `details` key ("materials.0.mass_g") names the
field it concerns. Nothing is validated here: the payload goes to the same service as the API's, and
its errors come back next to the fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from schemas.declaration import DISCLOSURE_CHOICES

STAGES = ("extraction", "processing")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ROW_KEY = re.compile(r"^(materials|components)-(\d+)-(.+)$")
_ORIGIN_KEY = re.compile(r"^(extraction|processing)-(\d+)-(country|share|facility)$")
#: Rows a form may hold; more is a mistake or an abuse, not a declaration someone typed.
MAX_ROWS = 500


@dataclass
class OriginRow:
    country: str = ""
    share: str = ""
    facility: str = ""

    def blank(self) -> bool:
        return not (self.country or self.share or self.facility)


@dataclass
class MaterialRow:
    material: str = ""
    mass_g: str = ""
    recycled_share: str = ""
    extraction: list[OriginRow] = field(default_factory=list)
    processing: list[OriginRow] = field(default_factory=list)

    def blank(self) -> bool:
        return not (self.material or self.mass_g or self.recycled_share or self.extraction or self.processing)


@dataclass
class ComponentRow:
    part_number: str = ""
    supplier: str = ""
    supplier_name: str = ""
    supplier_country: str = ""
    quantity: str = ""
    request_disclosure: bool = True
    disclose_supplier_to: str = "authority"

    def blank(self) -> bool:
        return not (self.part_number or self.supplier or self.supplier_name or self.quantity)


@dataclass
class DeclarationForm:
    """What the editor shows: every value as typed (strings), rows in order."""

    part_number: str = ""
    part_name: str = ""
    part_unit: str = "piece"
    program: str = ""
    statement: str = ""
    materials: list[MaterialRow] = field(default_factory=list)
    components: list[ComponentRow] = field(default_factory=list)

    @classmethod
    def from_form(cls, data: MultiDict[str, str]) -> DeclarationForm:
        """The editor's state from a posted form, blank rows included (see `prune`)."""
        form = cls(
            part_number=data.get("part-number", "").strip(),
            part_name=data.get("part-name", "").strip(),
            part_unit=data.get("part-unit", "").strip(),
            program=data.get("program", "").strip(),
            statement=data.get("statement", "").strip(),
        )
        materials: dict[int, MaterialRow] = {}
        origins: dict[tuple[int, str, int], OriginRow] = {}
        components: dict[int, ComponentRow] = {}
        for key in data:
            match = _ROW_KEY.match(key)
            if match is None or int(match.group(2)) >= MAX_ROWS:
                continue
            kind, index, rest = match.group(1), int(match.group(2)), match.group(3)
            value = data.get(key, "").strip()
            if kind == "components":
                row = components.setdefault(index, ComponentRow(request_disclosure=False))
                if rest == "request_disclosure":
                    row.request_disclosure = value in ("on", "true", "1")
                elif rest in ("part_number", "supplier", "supplier_name", "supplier_country", "quantity"):
                    setattr(row, rest, value)
                elif rest == "disclose_supplier_to" and value in DISCLOSURE_CHOICES:
                    row.disclose_supplier_to = value
                continue
            material = materials.setdefault(index, MaterialRow())
            origin = _ORIGIN_KEY.match(rest)
            if origin is not None and int(origin.group(2)) < MAX_ROWS:
                stage, position, name = origin.group(1), int(origin.group(2)), origin.group(3)
                setattr(origins.setdefault((index, stage, position), OriginRow()), name, value)
            elif rest in ("material", "mass_g", "recycled_share"):
                setattr(material, rest, value)
        for (index, stage, _position), origin_row in sorted(origins.items()):
            getattr(materials[index], stage).append(origin_row)
        form.materials = [material for _, material in sorted(materials.items())]
        form.components = [component for _, component in sorted(components.items())]
        return form

    def prune(self) -> DeclarationForm:
        """Drop the material and origin rows left entirely blank (before building the payload, so indices
        match the fields).

        The editor opens with a blank material row and blank origin rows nobody asked for; the page says
        that blank ones are left out. A component row is only ever there because someone pressed "Add a
        component", so it stays, blank or not, and comes back with its errors.
        """
        for row in self.materials:
            for stage in STAGES:
                setattr(row, stage, [origin for origin in getattr(row, stage) if not origin.blank()])
        self.materials = [row for row in self.materials if not row.blank()]
        return self

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DeclarationForm:
        """The editor prefilled from a declaration's payload (to supersede it)."""

        def text(value: Any) -> str:
            if value is None:
                return ""
            if isinstance(value, float) and value.is_integer():
                return str(int(value))
            return str(value)

        part = payload.get("part") or {}
        form = cls(
            part_number=text(part.get("number")),
            part_name=text(part.get("name")),
            part_unit=text(part.get("unit")) or "piece",
            program=text(payload.get("program")),
            statement=text(payload.get("statement")),
        )
        for line in payload.get("materials") or []:
            form.materials.append(
                MaterialRow(
                    material=text(line.get("material")),
                    mass_g=text(line.get("mass_g")),
                    recycled_share=text(line.get("recycled_share")),
                    **{
                        stage: [
                            OriginRow(text(o.get("country")), text(o.get("share")), text(o.get("facility")))
                            for o in line.get(stage) or []
                        ]
                        for stage in STAGES
                    },
                )
            )
        for component in payload.get("components") or []:
            choices = component.get("disclose_supplier_to") or ["authority"]
            form.components.append(
                ComponentRow(
                    part_number=text(component.get("part_number")),
                    supplier=text(component.get("supplier")),
                    supplier_name=text(component.get("supplier_name")),
                    supplier_country=text(component.get("supplier_country")),
                    quantity=text(component.get("quantity")),
                    request_disclosure=bool(component.get("request_disclosure")),
                    disclose_supplier_to=choices[0] if choices[0] in DISCLOSURE_CHOICES else "authority",
                )
            )
        return form

    def apply(self, action: str) -> bool:
        """Add or remove a row as an editor button asks ("add-material", "remove-components-2", ...).

        "refresh" changes nothing (the page's default button, for Enter in a text field).

        Returns False when `action` is not a row action. Works without JavaScript: the page is sent back
        with one row more or less and everything typed so far.
        """
        if action == "refresh":
            pass
        elif action == "add-material":
            self.materials.append(MaterialRow(extraction=[OriginRow()], processing=[OriginRow()]))
        elif action == "add-component":
            self.components.append(ComponentRow())
        elif match := re.fullmatch(r"add-materials-(\d+)-(extraction|processing)", action):
            index = int(match.group(1))
            if index < len(self.materials):
                getattr(self.materials[index], match.group(2)).append(OriginRow())
        elif match := re.fullmatch(r"remove-materials-(\d+)-(extraction|processing)-(\d+)", action):
            index, position = int(match.group(1)), int(match.group(3))
            if index < len(self.materials):
                rows = getattr(self.materials[index], match.group(2))
                if position < len(rows):
                    del rows[position]
        elif match := re.fullmatch(r"remove-(materials|components)-(\d+)", action):
            rows = getattr(self, match.group(1))
            if int(match.group(2)) < len(rows):
                del rows[int(match.group(2))]
        else:
            return False
        return True

    def to_payload(
        self,
        *,
        issuer: str,
        declaration_id: str,
        issued_at: str,
        in_response_to: str | None,
        supersedes: str | None,
    ) -> dict[str, Any]:
        """Payload v1 of the form; numbers that do not parse stay text, for the schema to refuse."""
        materials = []
        for row in self.materials:
            line: dict[str, Any] = {"material": row.material, "mass_g": _number(row.mass_g)}
            for stage in STAGES:
                origins = []
                for origin in getattr(row, stage):
                    item: dict[str, Any] = {"country": origin.country.upper(), "share": _number(origin.share)}
                    if origin.facility:
                        item["facility"] = origin.facility
                    origins.append(item)
                line[stage] = origins
            line["recycled_share"] = _number(row.recycled_share) if row.recycled_share else 0.0
            materials.append(line)
        components = []
        for component in self.components:
            item = {
                "part_number": component.part_number,
                "supplier": component.supplier or None,
                "quantity": _number(component.quantity),
                "request_disclosure": component.request_disclosure,
                "disclose_supplier_to": [component.disclose_supplier_to],
            }
            if not component.supplier:
                item["supplier_name"] = component.supplier_name or None
                item["supplier_country"] = component.supplier_country.upper() or None
            components.append(item)
        return {
            "id": declaration_id,
            "issuer": issuer,
            "issued_at": issued_at,
            "in_response_to": in_response_to,
            "supersedes": supersedes,
            "program": self.program or None,
            "part": {"number": self.part_number, "name": self.part_name, "unit": self.part_unit or "piece"},
            "materials": materials,
            "components": components,
            "statement": self.statement,
        }

    def field_order(self) -> list[str]:
        """The id of every field and row group the editor renders (where an error can be shown), in the
        order it draws them (the error summary's order)."""
        ids = ["part-number", "part-name", "part-unit", "program", "materials"]
        for i, row in enumerate(self.materials):
            prefix = f"materials-{i}"
            ids += [prefix, f"{prefix}-material", f"{prefix}-mass_g", f"{prefix}-recycled_share"]
            for stage in STAGES:
                ids.append(f"{prefix}-{stage}")
                for j, _origin in enumerate(getattr(row, stage)):
                    ids.append(f"{prefix}-{stage}-{j}")
                    ids += [f"{prefix}-{stage}-{j}-{name}" for name in ("country", "share", "facility")]
        ids.append("components")
        for i, _component in enumerate(self.components):
            prefix = f"components-{i}"
            ids.append(prefix)
            ids += [
                f"{prefix}-{name}"
                for name in (
                    "part_number",
                    "supplier",
                    "quantity",
                    "supplier_name",
                    "supplier_country",
                    "request_disclosure",
                    "disclose_supplier_to",
                )
            ]
        ids += ["statement", "signing"]
        return ids


#: Domain error keys that concern the signature rather than a field of the form.
SIGNATURE_KEYS = {"keyid", "expected_keyid", "signatures", "payloadType", "field", "signature", "envelope"}


def field_errors(details: dict[str, Any], field_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Split a domain error's details into errors by field id and errors for the whole form.

    "materials.0.mass_g" becomes the field "materials-0-mass_g"; a key naming a field the editor does not
    render falls back to its closest rendered ancestor ("components.3" for "components.3.foo"), then to
    the whole form. Signature problems go to the "signing" field. Messages are put in plain words
    (`plain_message`). `field_ids` are in page order (`DeclarationForm.field_order`): the errors by field
    come in that order, as the error summary lists them.
    """
    position = {field_id: index for index, field_id in enumerate(field_ids)}
    by_field: dict[str, str] = {}
    general: dict[str, str] = {}
    for key, message in details.items():
        text = plain_message(message if isinstance(message, str) else str(message))
        if key in SIGNATURE_KEYS:
            by_field.setdefault("signing", f"{key}: {text}")
            continue
        parts = str(key).split(".")
        while parts:
            candidate = "-".join(parts)
            if candidate in position:
                if candidate not in by_field:
                    by_field[candidate] = text
                elif text not in by_field[candidate].split("; "):
                    by_field[candidate] = f"{by_field[candidate]}; {text}"
                break
            parts.pop()
        else:
            general[str(key)] = text
    return dict(sorted(by_field.items(), key=lambda item: position.get(item[0], len(position)))), general


_COUNTRY_CODE = "Use a two-letter country code (ISO 3166-1 alpha-2), e.g. CN"
_STAGE_WORDS = {"extraction": "mined", "processing": "refined"}
#: The payload schema's and rules' messages (schemas/declaration.py, tiertrace/declarations/rules.py and
#: `check_payload`), as the editor says them (the API keeps the originals). Each message a field of the
#: editor can get is here: tests/portal/web/test_web_supplier.py tries every field.
_PLAIN_MESSAGES: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"Field may not be null\.|Missing data for required field\."), "Enter a value"),
    (
        re.compile(r"Must be greater than or equal to 0 and less than or equal to 1\."),
        "Enter a share from 0 to 1 (0.9 = 90 %)",
    ),
    (re.compile(r"Must be greater than or equal to 0\."), "Enter 0 or more"),
    (re.compile(r"Must be greater than 0\."), "Enter a number greater than 0"),
    (re.compile(r"\bmust be a number\b"), "Enter a number, e.g. 0.84"),
    # From the form only a number beyond the float range (1e400) is not finite; NaN and Infinity come only
    # in a hand-made payload.
    (
        re.compile(r"must be a finite number \(no NaN or Infinity\)"),
        "Enter a smaller number: this one is too large to store",
    ),
    # Two letters that name no country are not "two letters" wrong: say which code is unknown.
    (
        re.compile(r"unknown country code '([^']{2})'; use ISO 3166-1 alpha-2"),
        r"\1 is not a country code: use a code of ISO 3166-1 alpha-2, e.g. CN",
    ),
    (re.compile(r"unknown country code '[^']*'; use ISO 3166-1 alpha-2|Length must be 2\."), _COUNTRY_CODE),
    (re.compile(r"Length must be between 1 and (\d+)\."), r"Enter a value (at most \1 characters)"),
    (re.compile(r"Longer than maximum length (\d+)\."), r"Enter at most \1 characters"),
    (re.compile(r"Not a valid string\."), "Enter text"),
    (
        re.compile(r"unknown material code ([^;]*); use a code of the CRM reference list"),
        lambda m: (
            "Choose a material from the list"
            + (f": {code} is not one of its codes" if (code := _unquoted(m.group(1))) else "")
        ),
    ),
    (
        re.compile(r"the (extraction|processing) shares add up to (\S+), more than 1"),
        lambda m: (
            f"The shares of where it was {_STAGE_WORDS[m.group(1)]} add up to {m.group(2)}, "
            "more than 1 (100 %)"
        ),
    ),
    (
        re.compile(
            r"the ([^;]*?) lines add up to more than (\S+) g, beyond the range of a number: "
            r"declare the mass of one unit of the part"
        ),
        r"The \1 masses add up to more than \2 g, more than can be stored: declare the mass in one unit of "
        r"the part",
    ),
    (
        re.compile(
            r"([^;]*) is not a registered organisation; use null and supplier_name/supplier_country for a "
            r"supplier that is not on the portal yet"
        ),
        lambda m: (
            f"{_unquoted(m.group(1))} is not registered on the portal: leave the supplier empty and "
            "enter its name and country instead"
        ),
    ),
    (
        re.compile(
            r"([^;]*) is the portal's (\w+), not a company; "
            r"a component's supplier must be a registered company"
        ),
        lambda m: (
            f"{_unquoted(m.group(1))} is the portal's {m.group(2)}, not a company: choose a company "
            "registered on the portal"
        ),
    ),
    (
        re.compile(re.escape("text may not hold NUL (\\u0000) or an unpaired surrogate (\\ud800-\\udfff)")),
        "This text holds a character that cannot be stored (a NUL, or half of a character pair): retype it",
    ),
    (re.compile(r"must be true or false"), "Choose yes or no"),
    (
        re.compile(re.escape('must be exactly one of ["authority"], ["requester"] or ["chain"] (or absent)')),
        "Choose who may learn the supplier",
    ),
    (re.compile(r"Unknown field\."), "This is not part of a declaration"),
    # Only in a payload made by hand: the editor always sends rows as lists of rows.
    (re.compile(r"Not a valid list\.|Invalid input type\."), "This is not a row of a declaration"),
)


def _unquoted(text: str) -> str:
    """A value the core quoted with repr() ("'ghost-corp'"), as typed."""
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


def plain_message(text: str) -> str:
    """A payload error message in the editor's words: "Field may not be null." is "Enter a value"."""
    for pattern, replacement in _PLAIN_MESSAGES:
        text = pattern.sub(replacement, text)
    parts = text.split("; ")
    return "; ".join(part for index, part in enumerate(parts) if part not in parts[:index])


def _number(text: str) -> Any:
    # A decimal comma is accepted ("0,84"); anything else that is not a plain decimal number is sent as the
    # text it is, and the payload schema answers "must be a number" next to the field.
    candidate = text.strip().replace(",", ".") if text.count(",") == 1 and "." not in text else text.strip()
    if not _NUMBER.match(candidate):
        return text if text else None
    number = float(candidate)
    return int(number) if number.is_integer() and abs(number) < 2**53 and "." not in candidate else number


_LABELS = {
    "part-number": "Part number",
    "part-name": "Part name",
    "part-unit": "Unit",
    "program": "Programme",
    "statement": "Statement",
    "signing": "Signature",
    "materials": "Materials",
    "components": "Components",
    "material": "material",
    "mass_g": "mass",
    "recycled_share": "recycled share",
    "country": "country",
    "share": "share",
    "facility": "facility",
    "part_number": "part number",
    "supplier": "supplier",
    "supplier_name": "supplier name",
    "supplier_country": "supplier country",
    "quantity": "quantity",
    "request_disclosure": "ask this supplier",
    "disclose_supplier_to": "who may learn the supplier",
    "extraction": "mined in",
    "processing": "refined in",
    # the other forms' fields, as their pages label them
    "email": "Email address",
    "password": "Password",
    "password_confirm": "The same password again",
    "current_password": "Current password",
    "new_password": "New password",
    "new_password_confirm": "New password again",
    "label": "Label of a new token",
    "public_key": "Public key",
    "webhook_url": "Webhook URL",
    "reason": "Why you decline",
    "envelope_file": "Envelope file",
    "request-supplier": "Supplier",
    "request-part_number": "Part number",
    "request-program": "Programme",
    "request-due_date": "Due date",
    "request-message": "Message",
}


def field_label(field_id: str) -> str:
    """A field id as people read it: "materials-0-extraction-1-share" is "Material 1, mined in 2: share"."""
    if field_id in _LABELS:
        return _LABELS[field_id]
    parts = field_id.split("-")
    if parts[0] not in ("materials", "components") or len(parts) < 2 or not parts[1].isdigit():
        return field_id.replace("-", " ").replace("_", " ")
    words = [f"{'Material' if parts[0] == 'materials' else 'Component'} {int(parts[1]) + 1}"]
    rest = parts[2:]
    if len(rest) >= 2 and rest[0] in STAGES and rest[1].isdigit():
        words.append(f"{_LABELS[rest[0]]} {int(rest[1]) + 1}")
        rest = rest[2:]
    elif rest and rest[0] in STAGES:
        words.append(_LABELS[rest[0]])
        rest = rest[1:]
    label = ", ".join(words)
    return f"{label}: {_LABELS.get(rest[0], rest[0])}" if rest else label
