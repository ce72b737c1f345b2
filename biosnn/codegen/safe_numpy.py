"""Pure NumPy definitions of the safe functions (no sympy): the warm-start side.

:mod:`biosnn.codegen.functions` defines the *sympy* classes of the safe functions
(``XOverExpm1`` = ``x/(exp(x) - 1)`` and its derivatives ``XOverExpm1D1`` ...
``XOverExpm1D8``; see its docstring for the mathematics and the measured accuracy).  The
generated NumPy source calls them by name (``bs_xexpm1(x)``, ``bs_xexpm1_d3(x)``), so
running cached source only needs their NumPy implementations - this module, which imports
NumPy and the standard library only.  A warm process (docs/architecture.md, "Warm start")
that runs cached kernels therefore never imports sympy (~0.5 s).

* :data:`NUMPY_FUNCTIONS`: ``name -> vectorized callable`` (float64 arrays in and out);
* :func:`kernel_namespace`: those plus scalar versions ``_s_name`` (Python floats, the
  same formulas), i.e. everything generated NumPy kernel source may call.

The exact coefficients (Bernoulli numbers, the derivative polynomials, the truncated
Taylor series) are computed here once at import in pure Python; the C definitions in
:mod:`biosnn.codegen.functions` are printed from the same tables.

Examples
--------
>>> from biosnn.codegen.safe_numpy import NUMPY_FUNCTIONS
>>> float(NUMPY_FUNCTIONS["bs_xexpm1"](0.0)), float(NUMPY_FUNCTIONS["bs_xexpm1_d1"](0.0))
(1.0, -0.5)
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = [
    "NUMPY_FUNCTIONS",
    "kernel_namespace",
    "MAX_ORDER",
    "SERIES_RADIUS",
    "HIGH_ORDER_SERIES_RADIUS",
    "ORDER0_SERIES_RADIUS",
]


#: Highest derivative order of ``x/(exp(x) - 1)`` that has a safe function.
MAX_ORDER = 8
#: Below this |x| the derivatives of order 1 to 3 use the Taylor series.
SERIES_RADIUS = 2.0
#: Below this |x| the derivatives of order >= 4 use the Taylor series.
HIGH_ORDER_SERIES_RADIUS = 3.5
#: Below this |x| the function itself (order 0) uses ``1 - x/2 + x**2/12``.
ORDER0_SERIES_RADIUS = 1e-5


# -- exact coefficients (pure Python, computed once at import) ---------------------------


def _bernoulli_numbers(n_max: int) -> list:
    """Bernoulli numbers ``B_0..B_n_max`` as Fractions, with ``B_1 = -1/2``.

    These are the Taylor coefficients of ``x/(exp(x) - 1) = sum_k B_k x**k / k!``.  The
    even ones come from the tangent numbers ``T_k`` (``tan x = sum T_k
    x**(2k-1)/(2k-1)!``), computed with integers only by Brent and Harvey's algorithm
    (arXiv:1108.0286, "TangentNumbers"): ``B_2k = (-1)**(k-1) 2k T_k / (4**k (4**k - 1))``;
    the odd ones beyond ``B_1`` are zero.  (The same numbers as the recurrence
    ``B_m = -sum_k C(m+1, k) B_k / (m+1)``, at a tenth of its cost at import.)
    """
    n = n_max // 2
    tangent = [0] * (n + 1)
    if n >= 1:
        tangent[1] = 1
    for k in range(2, n + 1):
        tangent[k] = (k - 1) * tangent[k - 1]
    for k in range(2, n + 1):
        for j in range(k, n + 1):
            tangent[j] = (j - k) * tangent[j - 1] + (j - k + 2) * tangent[j]
    b = [Fraction(0)] * (n_max + 1)
    b[0] = Fraction(1)
    if n_max >= 1:
        b[1] = Fraction(-1, 2)
    for k in range(1, n + 1):
        four = 4**k
        b[2 * k] = Fraction((-1) ** (k - 1) * 2 * k * tangent[k], four * (four - 1))
    return b


def _series_radius(order: int) -> float:
    """Below this |x| the derivative of ``order`` (>= 1) uses its Taylor series."""
    return SERIES_RADIUS if order <= 3 else HIGH_ORDER_SERIES_RADIUS


def _series(order: int, bern: list, tol: float = 1e-18) -> tuple:
    """Taylor series of the ``order``-th derivative, split for evaluation in ``x**2``.

    The coefficients are ``c_m = B_{m+order}/m!``; they vanish unless ``m + order`` is
    even or ``m + order == 1`` (``B_1 = -1/2``).  Returns ``(lone, parity, coeffs)`` with
    ``series(x) = lone*x**(1 - order) + x**parity * sum_k coeffs[k] * x**(2k)`` (``lone``
    is 0 for order >= 2), truncated where the tail is below ``tol`` (relative) at the
    series radius.
    """
    radius = _series_radius(order)
    parity = order % 2
    lone = float(bern[1]) / math.factorial(1 - order) if order <= 1 else 0.0
    coeffs = []
    m = parity
    while m + order < len(bern):
        coeffs.append(bern[m + order] / math.factorial(m))
        m += 2
    scale = max(abs(float(c)) * radius ** (2 * k + parity) for k, c in enumerate(coeffs[:3]))
    last = len(coeffs)
    for k in range(len(coeffs) - 1, -1, -1):
        if abs(float(coeffs[k])) * radius ** (2 * k + parity) > tol * scale:
            last = k + 1
            break
    return lone, parity, [float(c) for c in coeffs[:last]]


def _derivative_polynomials(n_max: int) -> list:
    """Polynomials ``P_n(g, h)`` with ``P_n = d^n g / dx^n`` for ``g = 1/(exp(x) - 1)``.

    ``h = 1 + g``; ``g' = h' = -g*h``.  A polynomial is a dict ``{(i, j): coeff}`` for
    ``coeff * g**i * h**j``.
    """
    polys = [{(1, 0): 1}]
    for _ in range(n_max):
        new: dict = {}
        for (i, j), c in polys[-1].items():
            if i:
                new[(i, j + 1)] = new.get((i, j + 1), 0) - i * c
            if j:
                new[(i + 1, j)] = new.get((i + 1, j), 0) - j * c
        polys.append({k: v for k, v in new.items() if v})
    return polys


_BERNOULLI = _bernoulli_numbers(MAX_ORDER + 160)
_POLYS = _derivative_polynomials(MAX_ORDER)
_SERIES = [_series(n, _BERNOULLI) for n in range(MAX_ORDER + 1)]


def _poly_terms(poly: dict) -> list:
    """Terms of a polynomial as ``(coeff, i, j)`` in a fixed order."""
    return [(c, i, j) for (i, j), c in sorted(poly.items())]


# -- NumPy implementations -----------------------------------------------------------------


def _np_series(series: tuple, order: int, x: np.ndarray) -> np.ndarray:
    lone, parity, coeffs = series
    x2 = x * x
    out = np.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        out = out * x2 + c
    if parity:
        out = out * x
    if order == 1:
        out = out + lone
    return out


def _np_poly(poly: dict, g: np.ndarray, h: np.ndarray) -> np.ndarray:
    out = np.zeros_like(g)
    for c, i, j in _poly_terms(poly):
        out = out + c * g**i * h**j
    return out


def _np_order0(x):
    """``x/(exp(x) - 1)``, vectorized; 1 at 0."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) < ORDER0_SERIES_RADIUS
    xs = np.where(small, 1.0, x)
    with np.errstate(over="ignore", invalid="ignore"):
        far = xs / np.expm1(xs)
    return np.where(small, 1.0 - x * (0.5 - x / 12.0), far)


def _make_np_derivative(order: int):
    """Vectorized ``order``-th derivative of ``x/(exp(x) - 1)`` (order >= 1)."""
    p_n, p_prev, series = _POLYS[order], _POLYS[order - 1], _SERIES[order]
    radius = _series_radius(order)

    def derivative(x):
        x = np.asarray(x, dtype=np.float64)
        small = np.abs(x) < radius
        xs = np.where(small, radius, x)
        with np.errstate(over="ignore", invalid="ignore"):
            g = 1.0 / np.expm1(xs)
            h = -1.0 / np.expm1(-xs)
            far = xs * _np_poly(p_n, g, h) + order * _np_poly(p_prev, g, h)
        far = np.where(np.isfinite(xs) & ~np.isfinite(far), 0.0, far)
        return np.where(small, _np_series(series, order, np.where(small, x, 0.0)), far)

    derivative.__name__ = f"bs_xexpm1_d{order}"
    derivative.__doc__ = f"Derivative of order {order} of x/(exp(x) - 1), vectorized."
    return derivative


def _c_name(order: int) -> str:
    return "bs_xexpm1" if order == 0 else f"bs_xexpm1_d{order}"


#: name -> vectorized NumPy callable, for every safe function.
NUMPY_FUNCTIONS = {_c_name(0): _np_order0}
NUMPY_FUNCTIONS.update({_c_name(n): _make_np_derivative(n) for n in range(1, MAX_ORDER + 1)})


def _scalar_version(name: str, fun):
    """Scalar (float -> float) version of a vectorized safe function."""
    if name == "bs_xexpm1":

        def xexpm1(x, _r=ORDER0_SERIES_RADIUS, _expm1=math.expm1):
            # the same formula as the vectorized version (_np_order0)
            if abs(x) < _r:
                return 1.0 - x * (0.5 - x / 12.0)
            return x / _expm1(x)

        return xexpm1

    def scalar(x):
        return float(fun(np.float64(x)))

    scalar.__name__ = "_s_" + name
    return scalar


def kernel_namespace() -> dict:
    """``name -> callable`` of the safe functions plus their scalar versions ``_s_name``:
    what generated NumPy kernel source may call (a fresh dict).
    """
    out = dict(NUMPY_FUNCTIONS)
    for name, fun in NUMPY_FUNCTIONS.items():
        out["_s_" + name] = _scalar_version(name, fun)
    return out
