"""How values appear in messages and tables: numbers readable at any size, paths and values on one line."""
from __future__ import annotations

import math


def number(value, decimals=4):
    """``0.3230`` for ordinary figures, ``2.104e+90`` for huge or tiny ones, ``-`` for none."""
    if value is None:
        return "-"
    if not math.isfinite(value) or value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.{decimals}f}"
    return f"{value:.{decimals - 1}e}"


def shown(value, limit=80):
    """``repr(value)`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
