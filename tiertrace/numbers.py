"""Numbers as people read them, for every place that prints figures (web pages, the command line)."""

from __future__ import annotations

import math


def significant(value: float, figures: int) -> str:
    """`value` to `figures` significant figures (but every whole digit), thousands separated, never in
    scientific notation, without trailing zeros: significant(15029860, 3) is "15,029,860",
    significant(0.000125, 6) is "0.000125", significant(30.0, 4) is "30"."""
    if value == 0:
        return "0"
    decimals = max(0, figures - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
