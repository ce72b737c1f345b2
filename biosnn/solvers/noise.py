"""Counter-based normal random numbers, bit-identical in NumPy and in generated C.

A stochastic run draws ``z(seed, step, instance, k)`` for the ``k``-th noise of one
instance at one time step.  The value is a pure function of those four integers (a
splitmix64 hash, two uniforms, Box-Muller), so

* the NumPy and the C backend draw the same numbers (identical bits up to the last ulp of
  ``log``/``cos`` in the two math libraries),
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
_TWO_M53 = 2.0 ** -53


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

    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
            or not 0 <= int(seed) < 2**64:
        raise (error or SimulationError)(
            f"seed must be a whole number with 0 <= seed < 2**64, not {seed!r}")
    return int(seed)


def seed_key(seed: int) -> np.uint64:
    """The 64-bit key of a seed (what the C side receives as ``key``); the seed must
    pass :func:`check_seed`."""
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


def normal(key, step, stream):
    """Standard normal draws for (key, step, stream); broadcasts over step and stream."""
    u1, u2 = uniform_pair(key, step, stream)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


#: The same generator in C99 (included in every generated kernel that has noise).
C_SOURCE = r"""
static inline uint64_t bs_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static inline double bs_normal(uint64_t key, uint64_t step, uint64_t stream) {
    uint64_t x = key ^ (step * 0xD1B54A32D192ED03ULL) ^ (stream * 0x8CB92BA72F3D8DD7ULL);
    uint64_t a = bs_mix64(x), b = bs_mix64(x ^ 0x9E3779B97F4A7C15ULL);
    double u1 = ((double)(a >> 11) + 1.0) * 0x1.0p-53;
    double u2 = ((double)(b >> 11) + 1.0) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
"""
