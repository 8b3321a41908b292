"""Pure acceptance rules for a decoded payload: reference data checks that need no database."""

from __future__ import annotations

from typing import Any

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


def object_rows(rows: Any) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a JSON list that are objects, with their positions."""
    return [(i, row) for i, row in enumerate(rows) if isinstance(row, dict)] if isinstance(rows, list) else []


def disclosure_choice(component: dict[str, Any]) -> str:
    """The component's disclosure choice; absent or empty means "authority" (nobody else)."""
    choices = component.get("disclose_supplier_to") or ["authority"]
    return choices[0]
