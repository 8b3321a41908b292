"""Pure acceptance rules for a decoded payload: reference data checks that need no database."""

from __future__ import annotations

import math
import sys
from typing import Any

from schemas.declaration import finite_number
from tiertrace import reference


def reference_problems(payload: dict[str, Any]) -> dict[str, str]:
    """Unknown material and country codes in a decoded payload, keyed by their JSON path.

    Works on the payload before the schema has passed it (so one answer can hold both kinds of error): a
    row that is not an object, or a code that is not text, is left to the schema's own error.
    """
    problems: dict[str, str] = {}
    for i, line in object_rows(payload.get("materials")):
        material = line.get("material")
        if isinstance(material, str) and not reference.is_material(material):
            problems[f"materials.{i}.material"] = (
                f"unknown material code {material!r}; use a code of the CRM reference list"
            )
        for stage in ("extraction", "processing"):
            for j, origin in object_rows(line.get(stage)):
                country = origin.get("country")
                if isinstance(country, str) and not reference.is_country(country):
                    problems[f"materials.{i}.{stage}.{j}.country"] = (
                        f"unknown country code {country!r}; use ISO 3166-1 alpha-2"
                    )
    for i, component in object_rows(payload.get("components")):
        country = component.get("supplier_country")
        if isinstance(country, str) and not reference.is_country(country):
            problems[f"components.{i}.supplier_country"] = (
                f"unknown country code {country!r}; use ISO 3166-1 alpha-2"
            )
    return problems


def mass_total_problems(payload: dict[str, Any]) -> dict[str, str]:
    """Materials whose lines add up to a mass beyond the float range, keyed by the line that overflows.

    Each mass is finite (the schema's rule), but the lines of one material add up (per unit of the part)
    and two of 1e308 g make infinity, which no figure can hold. Like `reference_problems` it works on the
    payload as sent: a mass that is not a finite number is left to the schema's own error.
    """
    totals: dict[str, float] = {}
    problems: dict[str, str] = {}
    for i, line in object_rows(payload.get("materials")):
        material, mass = line.get("material"), finite_number(line.get("mass_g"))
        if not isinstance(material, str) or mass is None or not math.isfinite(totals.get(material, 0.0)):
            continue  # not a line the total can count, or a material already reported
        totals[material] = totals.get(material, 0.0) + mass
        if not math.isfinite(totals[material]):
            problems[f"materials.{i}.mass_g"] = (
                f"the {material} lines add up to more than {sys.float_info.max:.4g} g, beyond the range "
                "of a number: declare the mass of one unit of the part"
            )
    return problems


def object_rows(rows: Any) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a JSON list that are objects, with their positions."""
    return [(i, row) for i, row in enumerate(rows) if isinstance(row, dict)] if isinstance(rows, list) else []


def disclosure_choice(component: dict[str, Any]) -> str:
    """The component's disclosure choice; absent or empty means "authority" (nobody else)."""
    choices = component.get("disclose_supplier_to") or ["authority"]
    return choices[0]
