"""exp, expm1 and x/(exp(x) - 1) written twice, in C and in NumPy, with the same bits.

The network engines must give bitwise equal results (docs/network.md).  libm's scalar
``exp``/``expm1`` are the same in both engines (NumPy's float64 ufuncs call libm on this
platform), but a loop that calls them cannot be vectorised, and in Hodgkin-Huxley-type
populations those calls are most of the time of a step.  This module defines the three
functions once more, as a fixed sequence of IEEE basic operations (+ - * /, comparisons,
selections and integer bit manipulation, all correctly rounded or exact), printed once as
C (branch-free ``static inline`` functions that GCC vectorises; compile with
``-ffp-contract=off``) and once as NumPy.  Same operations in the same order give the same
bits on any IEEE machine, whatever the libm.

Algorithm (Cody-Waite reduction, as in fdlibm): ``k = rint(x/ln 2)`` by the 1.5*2**52
shift, ``r = (x - k*ln2_hi) - k*ln2_lo`` (``k*ln2_hi`` exact), ``q = expm1(r)`` by its
Taylor series to r**13 (truncation < 4e-18 relative on |r| <= ln(2)/2), then

* ``exp(x) = ((1 + q) * 2**k1) * 2**k2`` with ``k1 + k2 = k`` (two factors so that
  2**k overflows or becomes subnormal only in the last, correctly rounded, product;
  k1 = rint(k/2));
* ``expm1(x) = q`` for k = 0, ``(2**k - 1) + 2**k * q`` for k <= 52 (for -60 <= k
  both terms exact, one rounding; below, -1), ``exp(x) - 1`` above; ``2**k`` is the
  product of exp's two factors (exact for k >= -1022, and below -60 only its size
  matters).

Accuracy: within 2 ulp of libm over the whole double range (tests/network/test_vmath.py
checks 1 ulp typical, 2 ulp max, including subnormal results, overflow, -0, inf, NaN).

Use: :func:`respell_c` / :func:`respell_py` turn snippet text that calls
``exp``/``expm1``/``bs_xexpm1`` (C) or ``_np.exp``/``_np.expm1``/``bs_xexpm1`` (NumPy) into
calls of these functions; :data:`NAMESPACE` is what the NumPy code needs.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = [
    "C_SOURCE",
    "NAMESPACE",
    "exp",
    "expm1",
    "respell_c",
    "respell_py",
    "respell_tree",
    "xexpm1",
]

# 1/ln 2 and the fdlibm split of ln 2 (ln2_hi has 32 significant bits: k*ln2_hi is exact
# for |k| < 2**21)
_INVLN2 = 1.4426950408889634
_LN2HI = 6.93147180369123816490e-01
_LN2LO = 1.90821492927058770002e-10
_SHIFT = 6755399441055744.0  # 1.5 * 2**52: x + SHIFT - SHIFT = rint(x)
_SHIFT_BITS = 0x4338000000000000
#: Taylor coefficients 1/n!, n = 13 .. 2 (Horner order)
_COEFFS = (
    1.6059043836821613e-10,
    2.08767569878681e-09,
    2.505210838544172e-08,
    2.755731922398589e-07,
    2.7557319223985893e-06,
    2.48015873015873e-05,
    0.0001984126984126984,
    0.001388888888888889,
    0.008333333333333333,
    0.041666666666666664,
    0.16666666666666666,
    0.5,
)
_XMAX, _XMIN = 710.0, -746.0  # exp overflows above 709.78, is 0 below -745.14
_SMALL = 1e-05  # bs_xexpm1's series radius (codegen/functions.py)


def _c_source() -> str:
    horner = repr(_COEFFS[0])
    for c in _COEFFS[1:]:
        horner = f"({repr(c)} + r*{horner})"
    return f"""/* biosnn.network._vmath: vectorisable exp/expm1, bitwise equal to its NumPy twin */
static inline double bsn_bits2d(uint64_t u) {{ double d; memcpy(&d, &u, 8); return d; }}
static inline uint64_t bsn_d2bits(double d) {{ uint64_t u; memcpy(&u, &d, 8); return u; }}
/* x clamped to [{_XMIN!r}, {_XMAX!r}] (NaN -> {_XMAX!r}); kd = rint(x/ln2); r; q = expm1(r) */
static inline double bsn_reduce(double x, double *kd) {{
    double xc = x < {_XMAX!r} ? x : {_XMAX!r};
    xc = xc > {_XMIN!r} ? xc : {_XMIN!r};
    const double k = (xc*{_INVLN2!r} + {_SHIFT!r}) - {_SHIFT!r};
    const double r = (xc - k*{_LN2HI!r}) - k*{_LN2LO!r};
    *kd = k;
    return r + (r*r)*{horner};
}}
/* 2**k for an integral double -1022 <= k <= 1023 (selections stay on doubles: GCC then
   vectorises loops that also hold byte and int arrays) */
static inline double bsn_pow2(double k) {{
    return bsn_bits2d((bsn_d2bits(k + {_SHIFT!r}) - (uint64_t){_SHIFT_BITS:#x}ULL
                       + (uint64_t)1023) << 52);
}}
/* (1 + q)*2**k in two products: the first exact, the last rounded once */
static inline double bsn_scale(double q, double k) {{
    const double k1 = (k*0.5 + {_SHIFT!r}) - {_SHIFT!r};
    return ((1.0 + q)*bsn_pow2(k1))*bsn_pow2(k - k1);
}}
static inline double bsn_exp(double x) {{
    double k;
    const double q = bsn_reduce(x, &k);
    const double e = bsn_scale(q, k);
    return x != x ? x : e;
}}
/* the two factors of bsn_scale serve both branches: s = p1*p2 is 2**k exactly for
   k >= -1022 and rounds below 2**-60 otherwise, where mid is -1 either way */
static inline double bsn_expm1(double x) {{
    double k;
    const double q = bsn_reduce(x, &k);
    const double k1 = (k*0.5 + {_SHIFT!r}) - {_SHIFT!r};
    const double p1 = bsn_pow2(k1), p2 = bsn_pow2(k - k1);
    const double big = ((1.0 + q)*p1)*p2 - 1.0;
    const double s = p1*p2;
    const double mid = (s - 1.0) + s*q;
    double e = k > 52.0 ? big : mid;
    e = k == 0.0 ? q : e;
    e = x == 0.0 ? x : e;
    return x != x ? x : e;
}}
/* x/(exp(x) - 1), 1 at 0: biosnn.codegen.functions' bs_xexpm1 with bsn_expm1 */
static inline double bsn_xexpm1(double x) {{
    const int small = fabs(x) < {_SMALL!r};
    const double xs = small ? 1.0 : x;
    const double far = xs/bsn_expm1(xs);
    return small ? 1.0 - x*(0.5 - x/12.0) : far;
}}
"""


#: C99 definitions (needs <math.h>, <stdint.h>, <string.h>).
C_SOURCE = _c_source()


def _reduce(x):
    xc = np.where(x < _XMAX, x, _XMAX)
    xc = np.where(xc > _XMIN, xc, _XMIN)
    k = (xc * _INVLN2 + _SHIFT) - _SHIFT
    r = (xc - k * _LN2HI) - k * _LN2LO
    h = np.full_like(r, _COEFFS[0])
    for c in _COEFFS[1:]:
        h = c + r * h
    return r + (r * r) * h, k


def _pow2(k):
    bits = (k + _SHIFT).view(np.uint64) - np.uint64(_SHIFT_BITS) + np.uint64(1023)
    return (bits << np.uint64(52)).view(np.float64)


def _scale(q, k):
    k1 = (k * 0.5 + _SHIFT) - _SHIFT
    return ((1.0 + q) * _pow2(k1)) * _pow2(k - k1)


def exp(x):
    """exp(x), float64 array in, array out (bitwise equal to C's ``bsn_exp``).

    Examples
    --------
    >>> round(float(exp(1.0)), 14)
    2.71828182845905
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        q, k = _reduce(x)
        e = _scale(q, k)
    return np.where(x != x, x, e)


def expm1(x):
    """exp(x) - 1, accurate near 0 (bitwise equal to C's ``bsn_expm1``).

    Examples
    --------
    >>> float(expm1(1e-10))
    1.00000000005e-10
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        q, k = _reduce(x)
        k1 = (k * 0.5 + _SHIFT) - _SHIFT
        p1, p2 = _pow2(k1), _pow2(k - k1)
        big = ((1.0 + q) * p1) * p2 - 1.0
        s = p1 * p2
        mid = (s - 1.0) + s * q
    e = np.where(k > 52.0, big, mid)
    e = np.where(k == 0.0, q, e)
    e = np.where(x == 0.0, x, e)
    return np.where(x != x, x, e)


def xexpm1(x):
    """x/(exp(x) - 1), 1 at 0 (bitwise equal to C's ``bsn_xexpm1``)."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) < _SMALL
    xs = np.where(small, 1.0, x)
    with np.errstate(all="ignore"):
        far = xs / expm1(xs)
    return np.where(small, 1.0 - x * (0.5 - x / 12.0), far)


#: Names the NumPy code produced by :func:`respell_py` uses.
NAMESPACE = {"_vm_exp": exp, "_vm_expm1": expm1, "_vm_xexpm1": xexpm1}

_C_CALL = re.compile(r"(?<![\w.])(exp|expm1|bs_xexpm1)\(")
_C_NAMES = {"exp": "bsn_exp(", "expm1": "bsn_expm1(", "bs_xexpm1": "bsn_xexpm1("}
_PY_CALL = re.compile(r"(?<![\w.])(_np\.exp|_np\.expm1|bs_xexpm1)\(")
_PY_NAMES = {"_np.exp": "_vm_exp(", "_np.expm1": "_vm_expm1(", "bs_xexpm1": "_vm_xexpm1("}


def respell_c(line: str) -> str:
    """``exp(`` / ``expm1(`` / ``bs_xexpm1(`` -> ``bsn_exp(`` / ... in a C line."""
    return _C_CALL.sub(lambda m: _C_NAMES[m.group(1)], line)


def respell_py(line: str) -> str:
    """``_np.exp(`` / ``_np.expm1(`` / ``bs_xexpm1(`` -> ``_vm_exp(`` / ... (NumPy)."""
    return _PY_CALL.sub(lambda m: _PY_NAMES[m.group(1)], line)


def respell_tree(tree):
    """A copy of a snippet tree (dicts and lists) with every C text (under key ``"c"``)
    respelled by :func:`respell_c` and every NumPy text (key ``"py"``) by
    :func:`respell_py`.
    """
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            if key in ("c", "py") and isinstance(value, (str, list)):
                fn = respell_c if key == "c" else respell_py
                out[key] = (
                    fn(value)
                    if isinstance(value, str)
                    else [fn(v) if isinstance(v, str) else respell_tree(v) for v in value]
                )
            else:
                out[key] = respell_tree(value)
        return out
    if isinstance(tree, list):
        return [respell_tree(v) for v in tree]
    return tree
