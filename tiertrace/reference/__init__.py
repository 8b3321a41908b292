"""Reference data shipped with the package: the critical raw materials list and ISO 3166-1 countries.

`crm-reference.csv` is a copy of the project's reference table (EU CRM Act 2024/1252 annexes plus
defence-relevant extras: flags, global country shares per stage, supply-risk scores, sources).
Country codes come from pycountry, which packages the ISO 3166 tables maintained by Debian's iso-codes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pycountry


@dataclass(frozen=True)
class Material:
    code: str
    name: str
    strategic: bool
    critical: bool
    main_stage: str
    #: Global shares per stage in percent, as published (may be empty when the study gives none).
    extraction_shares: dict[str, float]
    processing_shares: dict[str, float]
    supply_risk: float | None
    economic_importance: float | None
    china_export_control: str
    defence_uses: str


def _shares(text: str) -> dict[str, float]:
    shares: dict[str, float] = {}
    for item in filter(None, text.split(";")):
        country, _, value = item.partition(":")
        shares[country.strip()] = float(value)
    return shares


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


@cache
def materials() -> dict[str, Material]:
    """Every material code of the reference list, in the list's order."""
    with resources.files(__package__).joinpath("crm-reference.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        row["code"]: Material(
            code=row["code"],
            name=row["name"],
            strategic=row["strategic"] == "yes",
            critical=row["critical"] == "yes",
            main_stage=row["main_stage"],
            extraction_shares=_shares(row["extraction_shares"]),
            processing_shares=_shares(row["processing_shares"]),
            supply_risk=_number(row["sr_2023"]),
            economic_importance=_number(row["ei_2023"]),
            china_export_control=row["china_export_control"],
            defence_uses=row["defence_uses"],
        )
        for row in rows
    }


#: Short names where ISO's name reads like an index entry ("Congo, The Democratic Republic of the");
#: pycountry's `common_name` already covers most others (Iran, South Korea, Vietnam).
_SHORT_NAMES = {
    "BN": "Brunei",
    "CD": "DR Congo",
    "CG": "Republic of the Congo",
    "FM": "Micronesia",
    "PS": "Palestine",
    "RU": "Russia",
    "VA": "Vatican City",
    "VG": "British Virgin Islands",
    "VI": "US Virgin Islands",
}


@cache
def countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> the name people use (ISO's common name, or a short form of it)."""
    names: dict[str, str] = {c.alpha_2: getattr(c, "common_name", c.name) for c in pycountry.countries}
    return names | _SHORT_NAMES


def is_material(code: str) -> bool:
    return code in materials()


def is_country(code: str) -> bool:
    return code in countries()
