"""Counter-based normal random numbers, bit-identical in NumPy and in generated C.

A stochastic run draws ``z(seed, step, instance, k)`` for the ``k``-th noise of one
instance at one time step.  The value is a pure function of those four integers (a
splitmix64 hash, two uniforms, Box-Muller), so

* the NumPy and the C backend draw the same numbers, bit for bit, on any IEEE machine:
  ``log`` and ``cos`` are not the math library's (NumPy's own SIMD ``log`` differs from
  libm's in the last ulp on AVX-512 machines) but written here twice, in NumPy and in C,
  as the same fixed sequence of IEEE basic operations (fdlibm's reduction of ``log`` with
  the Taylor series of ``atanh``; ``cos(2 pi u)`` reduced exactly to a quarter period and
  its Taylor series), within a few ulp of the true values,
* a run does not depend on the order in which instances are visited, and
* re-running one instance (e.g. after growing a spike buffer) reproduces it exactly.

The stream is not a cryptographic generator; it passes the statistical checks in
``tests/solvers/test_noise.py`` (mean, variance, lag correlation), which is what an SDE
solver needs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["normal", "uniform_pair", "C_SOURCE", "seed_key", "check_seed"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_K_STEP = np.uint64(0xD1B54A32D192ED03)
_K_STREAM = np.uint64(0x8CB92BA72F3D8DD7)
_TWO_M53 = 2.0**-53


def _mix(z):
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def check_seed(seed, error=None) -> int:
    """``seed`` as an int, or an error if it is not a whole number in [0, 2**64).

    Seeds outside that range are refused rather than silently reduced (two different
    seeds must never give the same noise).  ``error`` is the exception class raised
    (default :class:`~biosnn.errors.SimulationError`).
    """
    import numbers

    from biosnn.errors import SimulationError

    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not 0 <= int(seed) < 2**64
    ):
        raise (error or SimulationError)(
            f"seed must be a whole number with 0 <= seed < 2**64, not {seed!r}"
        )
    return int(seed)


def seed_key(seed: int) -> np.uint64:
    """The 64-bit key of a seed (what the C side receives as ``key``); the seed must
    pass :func:`check_seed`.
    """
    with np.errstate(over="ignore"):
        return _mix(np.uint64(check_seed(seed)) + _GOLDEN)


def uniform_pair(key, step, stream):
    """Two independent uniforms in (0, 1] for (key, step, stream), as float64 arrays.

    ``stream = instance * n_noises + k``.
    """
    step = np.asarray(step, dtype=np.uint64)
    stream = np.asarray(stream, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = np.uint64(key) ^ (step * _K_STEP) ^ (stream * _K_STREAM)
        a = _mix(x)
        b = _mix(x ^ _GOLDEN)
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 1.0) * _TWO_M53
    u2 = ((b >> np.uint64(11)).astype(np.float64) + 1.0) * _TWO_M53
    return u1, u2


# log: fdlibm's reduction x = 2**k m, sqrt(2)/2 < m <= sqrt(2), f = m - 1, s = f/(2 + f),
# log(m) = f - hfsq + s*(hfsq + R) with R = sum 2 s**(2j)/(2j + 1), j = 1..12 (Taylor series
# of atanh; |s| <= 0.1716, truncation < 1e-18 relative)
_LN2HI = 6.93147180369123816490e-01
_LN2LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
_LOG_COEFFS = (
    0.08,
    0.08695652173913043,
    0.09523809523809523,
    0.10526315789473684,
    0.11764705882352941,
    0.13333333333333333,
    0.15384615384615385,
    0.18181818181818182,
    0.2222222222222222,
    0.2857142857142857,
    0.4,
    0.6666666666666666,
)  # 2/(2j + 1), j = 12 .. 1
# cos(2 pi u), 0 < u <= 1: w = 4u (exact), q = rint(w), r = w - q (exact, |r| <= 1/2),
# th = r pi/2 and cos(q pi/2 + th) from the Taylor series of cos th and sin th (|th| <= pi/4,
# truncation < 1e-20)
_SHIFT = 6755399441055744.0  # 1.5 * 2**52: (w + S) - S = rint(w)
_PIO2 = 1.5707963267948966
_COS_COEFFS = (
    4.110317623312165e-19,
    -1.5619206968586225e-16,
    4.779477332387385e-14,
    -1.1470745597729725e-11,
    2.08767569878681e-09,
    -2.755731922398589e-07,
    2.48015873015873e-05,
    -0.001388888888888889,
    0.041666666666666664,
    -0.5,
)
_SIN_COEFFS = (
    1.9572941063391263e-20,
    -8.22063524662433e-18,
    2.8114572543455206e-15,
    -7.647163731819816e-13,
    1.6059043836821613e-10,
    -2.505210838544172e-08,
    2.7557319223985893e-06,
    -0.0001984126984126984,
    0.008333333333333333,
    -0.16666666666666666,
)


def _horner(z, coeffs):
    acc = coeffs[0]
    for c in coeffs[1:]:
        acc = c + z * acc
    return acc


def _log_unit(u):
    """``log(u)`` for normal positive float64 ``u`` (here 2**-53 <= u <= 1), fixed operations."""
    u = np.asarray(u, dtype=np.float64)
    bits = u.view(np.uint64)
    k = (bits >> np.uint64(52)).astype(np.int64) - 1023
    m = ((bits & np.uint64(0x000FFFFFFFFFFFFF)) | np.uint64(0x3FF0000000000000)).view(np.float64)
    big = m > _SQRT2
    m = np.where(big, m * 0.5, m)
    kd = (k + big).astype(np.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    r = z * _horner(z, _LOG_COEFFS)
    hfsq = 0.5 * f * f
    return kd * _LN2HI - ((hfsq - (s * (hfsq + r) + kd * _LN2LO)) - f)


def _cos_2pi(u):
    """``cos(2 pi u)`` for float64 ``0 <= u <= 1``, fixed operations."""
    w = 4.0 * np.asarray(u, dtype=np.float64)
    q = (w + _SHIFT) - _SHIFT
    th = (w - q) * _PIO2
    z = th * th
    c = 1.0 + z * _horner(z, _COS_COEFFS)
    sn = th + (th * z) * _horner(z, _SIN_COEFFS)
    quadrant = q.astype(np.int64) & 3
    return np.where(quadrant == 0, c, np.where(quadrant == 1, -sn, np.where(quadrant == 2, -c, sn)))


def normal(key, step, stream):
    """Standard normal draws for (key, step, stream); broadcasts over step and stream."""
    u1, u2 = uniform_pair(key, step, stream)
    return np.sqrt(-2.0 * _log_unit(u1)) * _cos_2pi(u2)


def _c_horner(var: str, coeffs) -> str:
    acc = repr(coeffs[0])
    for c in coeffs[1:]:
        acc = f"({c!r} + {var}*{acc})"
    return acc


#: The same generator in C99 (included in every generated kernel that has noise; compiled
#: without floating-point contraction, so every operation rounds as NumPy's does).
C_SOURCE = (
    r"""
static inline uint64_t bs_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static inline double bs_log_unit(double u) {
    uint64_t bits; memcpy(&bits, &u, sizeof bits);
    int64_t k = (int64_t)(bits >> 52) - 1023;
    uint64_t mb = (bits & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL;
    double m; memcpy(&m, &mb, sizeof m);
    if (m > """
    + repr(_SQRT2)
    + r""") { m = m * 0.5; k += 1; }
    double kd = (double)k, f = m - 1.0, s = f / (2.0 + f), z = s * s;
    double r = z * """
    + _c_horner("z", _LOG_COEFFS)
    + r""";
    double hfsq = 0.5 * f * f;
    return kd * """
    + repr(_LN2HI)
    + r""" - ((hfsq - (s * (hfsq + r) + kd * """
    + repr(_LN2LO)
    + r""")) - f);
}
static inline double bs_cos_2pi(double u) {
    double w = 4.0 * u;
    double q = (w + """
    + repr(_SHIFT)
    + r""") - """
    + repr(_SHIFT)
    + r""";
    double th = (w - q) * """
    + repr(_PIO2)
    + r""", z = th * th;
    double c = 1.0 + z * """
    + _c_horner("z", _COS_COEFFS)
    + r""";
    double sn = th + (th * z) * """
    + _c_horner("z", _SIN_COEFFS)
    + r""";
    switch ((int64_t)q & 3) { case 0: return c; case 1: return -sn; case 2: return -c; }
    return sn;
}
static inline double bs_normal(uint64_t key, uint64_t step, uint64_t stream) {
    uint64_t x = key ^ (step * 0xD1B54A32D192ED03ULL) ^ (stream * 0x8CB92BA72F3D8DD7ULL);
    uint64_t a = bs_mix64(x), b = bs_mix64(x ^ 0x9E3779B97F4A7C15ULL);
    double u1 = ((double)(a >> 11) + 1.0) * 0x1.0p-53;
    double u2 = ((double)(b >> 11) + 1.0) * 0x1.0p-53;
    return sqrt(-2.0 * bs_log_unit(u1)) * bs_cos_2pi(u2);
}
"""
)
