"""Plain JSON types from biosnn's results (NumPy arrays and scalars, nested containers)."""

from __future__ import annotations

import math

__all__ = ["jsonable"]


def jsonable(value):
    """``value`` with arrays as lists, NumPy scalars as Python numbers, non-finite floats as
    None (JSON has no NaN), dict keys as strings; anything else unknown as its ``str``.

    >>> import numpy as np
    >>> jsonable({"V": np.array([1.0, np.nan]), 2: np.float64(3)})
    {'V': [1.0, None], '2': 3.0}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # NumPy arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
