"""Pure acceptance rules for a decoded payload: reference data checks that need no database."""

from __future__ import annotations

from typing import Any

from tiertrace import reference


def reference_problems(payload: dict[str, Any]) -> dict[str, str]:
    """Unknown material and country codes in a schema-valid payload, keyed by their JSON path."""
    problems: dict[str, str] = {}
    for i, line in enumerate(payload.get("materials", [])):
        if not reference.is_material(line["material"]):
            problems[f"materials.{i}.material"] = (
                f"unknown material code {line['material']!r}; use a code of the CRM reference list"
            )
        for stage in ("extraction", "processing"):
            for j, origin in enumerate(line.get(stage, [])):
                if not reference.is_country(origin["country"]):
                    problems[f"materials.{i}.{stage}.{j}.country"] = (
                        f"unknown country code {origin['country']!r}; use ISO 3166-1 alpha-2"
                    )
    for i, component in enumerate(payload.get("components", [])):
        country = component.get("supplier_country")
        if country is not None and not reference.is_country(country):
            problems[f"components.{i}.supplier_country"] = (
                f"unknown country code {country!r}; use ISO 3166-1 alpha-2"
            )
    return problems


def disclosure_choice(component: dict[str, Any]) -> str:
    """The component's disclosure choice; absent or empty means "authority" (nobody else)."""
    choices = component.get("disclose_supplier_to") or ["authority"]
    return choices[0]
