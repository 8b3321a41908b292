"""Numbers as people read them, for every place that prints figures (web pages, the command line)."""

from __future__ import annotations

import math

#: The smallest magnitude `significant` writes in scientific notation: sixteen whole digits.
SCIENTIFIC_FROM = 1e15


def significant(value: float, figures: int) -> str:
    """`value` to `figures` significant figures (but every whole digit), thousands separated, without
    trailing zeros: significant(15029860, 3) is "15,029,860", significant(0.000125, 6) is "0.000125",
    significant(30.0, 4) is "30". From `SCIENTIFIC_FROM` on, where every whole digit would be a wall of
    them (a mass may be up to 1.8e308), in scientific notation: significant(1.234e301, 3) is "1.23e+301".
    """
    if value == 0:
        return "0"
    if abs(float(f"{value:.{figures}g}")) >= SCIENTIFIC_FROM:  # rounded first: 999,999,999,999,999.9 too
        return f"{value:.{figures}g}"
    decimals = max(0, figures - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
