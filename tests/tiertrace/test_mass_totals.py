"""The acceptance rule on a declaration's own lines: per material they add up to a finite mass."""

from __future__ import annotations

from tiertrace.declarations.rules import mass_total_problems


def test_the_sum_rule_counts_only_the_numbers_the_schema_takes():
    payload = {
        "materials": [
            {"material": "Ga", "mass_g": 1e308},
            {"material": "Ga", "mass_g": 10**400},  # the schema's error, not a sum
            {"material": "Ga", "mass_g": True},
            {"material": "Ga", "mass_g": float("inf")},
            "not a line",
            {"material": 7, "mass_g": 1e308},
            {"material": "Ga", "mass_g": 7e307},
        ]
    }
    assert mass_total_problems(payload) == {}
    payload["materials"].append({"material": "Ga", "mass_g": 1e308})
    assert set(mass_total_problems(payload)) == {"materials.7.mass_g"}
