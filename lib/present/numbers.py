"""Numbers as the book prints them: the one number formatter of its tables and pages.

Kept apart from :mod:`lib.present.tables` (which re-exports it) so that the book's Sphinx
extension (:mod:`lib.book.results_page`) formats the results page without importing pandas
and SciPy into every render.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np


def _is_missing(x: Any) -> bool:
    if x is None:
        return True
    # a pandas NA can only exist once pandas is imported; importing it just to ask would
    # cost the renderer half a second
    pd = sys.modules.get("pandas")
    if pd is not None and (x is pd.NA or x is pd.NaT):
        return True
    try:
        return bool(isinstance(x, (float, np.floating)) and math.isnan(x))
    except TypeError:  # pragma: no cover - exotic scalars
        return False


def format_number(x: Any, digits: int = 4, *, sign: bool = False, thousands: bool = True) -> str:
    """Format one number for display.

    Parameters
    ----------
    x : int, float, str, bool or None
        Integers get thousands separators (``3316 -> "3,316"``); floats get
        ``digits`` decimals (with separators above 1,000); strings pass
        through; ``None``/NaN/NA render as ``""``; booleans as ``Yes``/``No``.
    digits : int
        Decimals for floats.
    sign : bool
        Show ``+`` on positive numbers (used for differences).
    thousands : bool
        Use ``,`` as thousands separator.

    Returns
    -------
    str
        Negative zero after rounding renders as zero (``-0.00001 -> "0.0000"``).
    """
    if _is_missing(x):
        return ""
    if isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return "Yes" if x else "No"
    plus = "+" if sign else ""
    comma = "," if thousands else ""
    if isinstance(x, (int, np.integer)):
        v = int(x)
        return f"{v:{plus}{comma}d}" if v != 0 else "0"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    s = f"{v:{plus}{comma}.{digits}f}"
    if float(s.replace(",", "")) == 0:  # -0.0000 or +0.0000 -> 0.0000
        s = f"{0:.{digits}f}"
    return s


__all__ = ["format_number"]
