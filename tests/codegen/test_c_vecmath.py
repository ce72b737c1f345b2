"""The SIMD exp/expm1 of the C fixed-step kernels (``c_backend._VMATH``) against libm.

They replace libm in the lane functions of the block driver, so they must be accurate
(<= 2 ulp) and handle overflow, underflow, +-inf and NaN like libm.  ``bs_vee`` (one
exponential-Euler update built on ``bs_vexpm1``) is checked against mpmath.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from biosnn.codegen import c_backend, c_build

pytestmark = pytest.mark.skipif(c_build.find_compiler() is None, reason="no C compiler")


_ARRAYS = "".join(f"""
void {name}_array(int64_t n, const double *x, double *y) {{
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = {name}(x[i]);
}}
""" for name in ("bs_vexp", "bs_vexpm1", "bs_vxexpm1")) + """
void bs_vee_array(int64_t n, const double *y, const double *A, const double *B, double dt,
                  double *out) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = bs_vee(y[i], A[i], B[i], dt);
}
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOSNN_CACHE_DIR", str(tmp_path_factory.mktemp("ccache")))
        src = ("#include <math.h>\n#include <stdint.h>\n#include <string.h>\n"
               + c_backend._VMATH + _ARRAYS)
        yield c_build.load_library(c_build.build(src))


def _call(lib, name, x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.empty_like(x)
    getattr(lib, name)(ctypes.c_int64(x.size), ctypes.c_void_p(x.ctypes.data),
                       ctypes.c_void_p(y.ctypes.data))
    return y


def _points():
    rng = np.random.default_rng(7)
    special = [0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e-9, -1e-9, 0.5 * np.log(2),
               -0.5 * np.log(2), np.log(2), 709.78, 709.782712893384, 709.79, 710.0,
               -708.4, -745.13, -745.2, -746.0, -40.0, -45.0, -50.0, 1e-5, -1e-5]
    return np.concatenate([
        rng.uniform(-750.0, 712.0, 100_000), rng.uniform(-40.0, 40.0, 100_000),
        rng.uniform(-1.0, 1.0, 100_000), rng.uniform(-1e-4, 1e-4, 20_000),
        np.linspace(-20, 20, 40_001), special])


def _max_ulp(got, want):
    assert np.array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    np.testing.assert_array_equal(got[~fin], want[~fin])
    ok = fin & (want != 0)
    err = np.abs(got[ok] - want[ok]) / np.spacing(np.abs(want[ok]))
    np.testing.assert_array_equal(got[fin & (want == 0)], 0.0)
    return float(err.max())


def test_exp_within_2_ulp(lib):
    x = _points()
    with np.errstate(over="ignore", under="ignore"):
        assert _max_ulp(_call(lib, "bs_vexp_array", x), np.exp(x)) <= 2.0


def test_expm1_within_2_ulp(lib):
    x = _points()
    with np.errstate(over="ignore"):
        assert _max_ulp(_call(lib, "bs_vexpm1_array", x), np.expm1(x)) <= 2.0


def test_x_over_expm1_within_2_ulp_of_the_scalar_formula(lib):
    x = np.concatenate([_points()[np.abs(_points()) < 700], [0.0, 1e-6, -1e-6, -50.0]])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        want = np.where(np.abs(x) < 1e-5, 1.0 - x * (0.5 - x / 12.0), x / np.expm1(x))
    assert _max_ulp(_call(lib, "bs_vxexpm1_array", x), want) <= 2.0


def test_special_values(lib):
    x = np.array([np.inf, -np.inf, np.nan, 1000.0, -1000.0, 0.0])
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(_call(lib, "bs_vexp_array", x),
                                      [np.inf, 0.0, np.nan, np.inf, 0.0, 1.0])
        np.testing.assert_array_equal(_call(lib, "bs_vexpm1_array", x),
                                      [np.inf, -1.0, np.nan, np.inf, -1.0, 0.0])
    # subnormal results of exp (gradual underflow)
    x = np.array([-709.0, -720.0, -740.0, -745.0])
    got = _call(lib, "bs_vexp_array", x)
    np.testing.assert_allclose(got, np.exp(x), rtol=1e-6, atol=0)


def test_exponential_euler_update_against_mpmath(lib):
    # bs_vee(y, A, B, dt) = y + (A y + B) expm1(A dt)/A (y + B dt at A = 0), against the
    # same formula in mpmath at 40 digits.  Bound: the final addition rounds (1 ulp of
    # the result, with the increment's own rounding), and the increment carries a few
    # roundings relative to its uncancelled size (|A y| + |B|) |expm1(A dt)/A|: the
    # products and sum (3 eps), bs_vexpm1 (2 ulp) and the quotient (1 eps): 8 eps allowed.
    import mpmath

    rng = np.random.default_rng(11)
    n = 4000
    y = np.concatenate([rng.uniform(0.0, 1.0, n), rng.uniform(-90.0, 60.0, n)])
    A = np.concatenate([-10.0 ** rng.uniform(-3, 2, n), rng.uniform(-5.0, 5.0, n)])
    B = np.concatenate([rng.uniform(0.0, 10.0, n), rng.uniform(-100.0, 100.0, n)])
    A[:5] = [0.0, -0.0, 1e-300, -1e-12, 1e-12]
    dt = 0.025
    got = np.empty_like(y)
    lib.bs_vee_array(ctypes.c_int64(y.size), *(ctypes.c_void_p(v.ctypes.data)
                                               for v in (y, A, B)),
                     ctypes.c_double(dt), ctypes.c_void_p(got.ctypes.data))
    with mpmath.workdps(40):
        phi = [mpmath.expm1(mpmath.mpf(a) * dt) / a if a != 0 else mpmath.mpf(dt)
               for a in A]
        want = np.array([float(mpmath.mpf(yi) + (mpmath.mpf(a) * yi + b) * ph)
                         for yi, a, b, ph in zip(y, A, B, phi)])
        scale = np.array([float((abs(mpmath.mpf(a) * yi) + abs(b)) * abs(ph))
                          for yi, a, b, ph in zip(y, A, B, phi)])
    eps = np.finfo(float).eps
    bound = np.spacing(np.abs(want)) + 8 * eps * scale
    assert np.all(np.abs(got - want) <= bound)
    assert got[0] == y[0] + B[0] * dt and got[1] == y[1] + B[1] * dt   # A = 0: Euler
