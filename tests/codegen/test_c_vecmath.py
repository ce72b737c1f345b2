"""The SIMD exp/expm1 of the C fixed-step kernels (``runtime/bs_vmath.h``) against libm.

They replace libm in the lane functions of the block driver, so they must be accurate
(<= 2 ulp) and handle overflow, underflow, +-inf and NaN like libm.  ``bs_vee`` (one
exponential-Euler update built on ``bs_vexpm1`` and the ``phi1`` polynomial) is checked
against mpmath.

Each test runs on two builds: ``dispatch`` is built as the kernel unit of the fixed
family is (its clones and its ``KERNEL_OPT`` flags, so on an x86-64-v3 machine the
fused multiply-add clone), ``portable`` with ``BS_NO_CLONES`` (the baseline code, no FMA).
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from biosnn.codegen import c_backend, c_build, c_runtime

pytestmark = pytest.mark.skipif(c_build.find_compiler() is None, reason="no C compiler")


_ARRAYS = (
    "".join(
        f"""
BS_CLONES void {name}_array(int64_t n, const double *x, double *y) {{
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = {name}(x[i]);
}}
"""
        for name in ("bs_vexp", "bs_vexpm1", "bs_vxexpm1")
    )
    + """
BS_CLONES void bs_vee_array(int64_t n, const double *y, const double *A, const double *B, double dt,
                  double *out) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = bs_vee(y[i], A[i], B[i], dt);
}
"""
)


@pytest.fixture(scope="module", params=["dispatch", "portable"])
def lib(request, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOSNN_CACHE_DIR", str(tmp_path_factory.mktemp("ccache")))
        src = (
            ("#define BS_NO_CLONES 1\n" if request.param == "portable" else "")
            + c_runtime.runtime_text("bs_prelude.h")
            + c_backend.UNIT_MARKER.format(name="vecmath", opt=c_backend.KERNEL_OPT)
            + c_runtime.runtime_text("bs_vmath.h")
            + _ARRAYS
        )
        assert c_build.split_units(src)[0][1] == c_backend.KERNEL_OPT
        yield c_build.load_library(c_build.build(src))


def _call(lib, name, x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.empty_like(x)
    getattr(lib, name)(
        ctypes.c_int64(x.size), ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(y.ctypes.data)
    )
    return y


def _points():
    rng = np.random.default_rng(7)
    special = [
        0.0,
        -0.0,
        1e-300,
        -1e-300,
        5e-324,
        1e-9,
        -1e-9,
        0.5 * np.log(2),
        -0.5 * np.log(2),
        np.log(2),
        709.78,
        709.782712893384,
        709.79,
        710.0,
        -708.4,
        -745.13,
        -745.2,
        -746.0,
        -40.0,
        -45.0,
        -50.0,
        1e-5,
        -1e-5,
    ]
    return np.concatenate(
        [
            rng.uniform(-750.0, 712.0, 100_000),
            rng.uniform(-40.0, 40.0, 100_000),
            rng.uniform(-1.0, 1.0, 100_000),
            rng.uniform(-1e-4, 1e-4, 20_000),
            np.linspace(-20, 20, 40_001),
            special,
        ]
    )


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
        np.testing.assert_array_equal(
            _call(lib, "bs_vexp_array", x), [np.inf, 0.0, np.nan, np.inf, 0.0, 1.0]
        )
        np.testing.assert_array_equal(
            _call(lib, "bs_vexpm1_array", x), [np.inf, -1.0, np.nan, np.inf, -1.0, 0.0]
        )
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
    A = np.concatenate([-(10.0 ** rng.uniform(-3, 2, n)), rng.uniform(-5.0, 5.0, n)])
    B = np.concatenate([rng.uniform(0.0, 10.0, n), rng.uniform(-100.0, 100.0, n)])
    A[:5] = [0.0, -0.0, 1e-300, -1e-12, 1e-12]
    dt = 0.025
    got = np.empty_like(y)
    lib.bs_vee_array(
        ctypes.c_int64(y.size),
        *(ctypes.c_void_p(v.ctypes.data) for v in (y, A, B)),
        ctypes.c_double(dt),
        ctypes.c_void_p(got.ctypes.data),
    )
    with mpmath.workdps(40):
        phi = [mpmath.expm1(mpmath.mpf(a) * dt) / a if a != 0 else mpmath.mpf(dt) for a in A]
        want = np.array(
            [
                float(mpmath.mpf(yi) + (mpmath.mpf(a) * yi + b) * ph)
                for yi, a, b, ph in zip(y, A, B, phi, strict=True)
            ]
        )
        scale = np.array(
            [
                float((abs(mpmath.mpf(a) * yi) + abs(b)) * abs(ph))
                for yi, a, b, ph in zip(y, A, B, phi, strict=True)
            ]
        )
    eps = np.finfo(float).eps
    bound = np.spacing(np.abs(want)) + 8 * eps * scale
    assert np.all(np.abs(got - want) <= bound)
    # A = 0: Euler's step y + B dt (one rounding apart: fused on the FMA clone)
    np.testing.assert_allclose(got[:2], y[:2] + B[:2] * dt, rtol=2 * eps, atol=0)


def test_exponential_euler_factor_on_both_paths(lib):
    # With y = 0, B = 1, bs_vee returns its factor h = expm1(x)/A, x = A*dt rounded to
    # double as the method computes it (NumPy does the same): dt*phi1(x) by the Taylor
    # polynomial for |x| <= ln2/2 (1 + x*S(x): S's roundings count ~0.16x, then the sum
    # and the product with dt), bs_vexpm1(x)/A beyond (<= 2 ulp and the quotient).  Both
    # sides of the switch and far beyond it, against mpmath at 40 digits: relative error
    # <= 2 eps (measured: 1.24 eps on either path).
    import mpmath

    dt = 0.025
    edge = 0.5 * np.log(2.0) / dt
    rng = np.random.default_rng(5)
    A = np.concatenate(
        [
            edge * (1.0 + np.array([-1e-15, -1e-9, 0.0, 1e-9, 1e-15])),
            -edge * (1.0 + np.array([-1e-15, -1e-9, 0.0, 1e-9, 1e-15])),
            rng.uniform(-edge, edge, 3000),
            rng.uniform(-200.0, 200.0, 3000),
            -(10.0 ** rng.uniform(-8, 4, 2000)),
        ]
    )
    zeros, ones, got = np.zeros_like(A), np.ones_like(A), np.empty_like(A)
    lib.bs_vee_array(
        ctypes.c_int64(A.size),
        *(ctypes.c_void_p(v.ctypes.data) for v in (zeros, A, ones)),
        ctypes.c_double(dt),
        ctypes.c_void_p(got.ctypes.data),
    )
    with mpmath.workdps(40):
        want = np.array([float(mpmath.expm1(mpmath.mpf(float(a * dt))) / a) for a in A])
    small = np.abs(A * dt) <= 0.5 * np.log(2.0)
    assert 2000 < small.sum() < A.size - 2000  # both paths are exercised
    assert np.max(np.abs(got - want) / np.abs(want)) <= 2 * np.finfo(float).eps
