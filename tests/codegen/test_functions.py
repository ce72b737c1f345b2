"""Safe functions: values, derivatives, NumPy and C implementations, printing protocol."""

import ctypes
import math
import shutil
import subprocess

import mpmath
import numpy as np
import pytest
import sympy

from biosnn.codegen.functions import (
    C_PRELUDE,
    MAX_ORDER,
    NUMPY_FUNCTIONS,
    SAFE_FUNCTIONS,
    XOverExpm1,
    x_over_expm1_derivative,
)

x = sympy.Symbol("x", real=True)

#: Points from tiny to huge, both signs, plus 0 and the series/closed-form borders.
POINTS = np.concatenate(
    [
        -np.logspace(-12, 2.8, 150),
        [0.0],
        np.logspace(-12, 2.8, 150),
        np.nextafter([2.0, -2.0, 3.5, -3.5], 0),
        [2.0, -2.0, 3.5, -3.5, 1e-5, -1e-5],
    ]
)


def reference(order, value):
    """The order-th derivative of x/(exp(x) - 1) by mpmath at 200 bits, from the formula."""
    with mpmath.workprec(400):
        xv = mpmath.mpf(float(value))
        if xv == 0:
            return [1.0, -0.5, 1.0 / 6, 0.0, -1.0 / 30][order]
        return float(mpmath.diff(lambda s: s / mpmath.expm1(s), xv, order))


def test_values_at_zero_are_bernoulli_numbers():
    assert XOverExpm1(0) == 1
    assert x_over_expm1_derivative(1)(0) == sympy.Rational(-1, 2)
    assert x_over_expm1_derivative(2)(0) == sympy.Rational(1, 6)
    assert x_over_expm1_derivative(3)(0) == 0
    assert x_over_expm1_derivative(4)(0) == sympy.Rational(-1, 30)


def test_fdiff_chain_and_chain_rule():
    f = XOverExpm1(x)
    assert f.diff(x) == x_over_expm1_derivative(1)(x)
    assert f.diff(x, 3) == x_over_expm1_derivative(3)(x)
    assert XOverExpm1(2 * x).diff(x) == 2 * x_over_expm1_derivative(1)(2 * x)


def test_derivative_beyond_max_order_falls_back_to_formula():
    top = x_over_expm1_derivative(MAX_ORDER)(x)
    assert not top.diff(x).has(*SAFE_FUNCTIONS)


def test_rewrite_as_exp_gives_the_formula():
    assert sympy.simplify(XOverExpm1(x).rewrite(sympy.exp) - x / (sympy.exp(x) - 1)) == 0
    d2 = x_over_expm1_derivative(2)(x).rewrite(sympy.exp)
    assert sympy.simplify(d2 - sympy.diff(x / (sympy.exp(x) - 1), x, 2)) == 0


@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("value", ["1e-9", "0.3", "-1.7", "2.5", "-40", "60"])
def test_evalf_is_exact(order, value):
    got = sympy.N(x_over_expm1_derivative(order)(sympy.Float(value, 40)), 30)
    with mpmath.workdps(60):
        xv = mpmath.mpf(value)
        ref = mpmath.diff(lambda s: s / mpmath.expm1(s), xv, order)
        rel = abs((mpmath.mpf(str(got)) - ref) / ref)
    assert rel < 1e-25


@pytest.mark.parametrize("order", range(0, 5))
def test_numpy_implementation_accuracy(order):
    fn = NUMPY_FUNCTIONS[x_over_expm1_derivative(order).numpy_name]
    got = fn(POINTS)
    assert got.shape == POINTS.shape
    ref = np.array([reference(order, v) for v in POINTS])
    scale = np.maximum(np.abs(ref), 1e-300)
    tol = 1e-14 if order <= 2 else 1e-13
    bad = np.abs(got - ref) > tol * scale
    # near the zero of odd derivatives at x = 0 compare absolutely
    bad &= np.abs(got - ref) > 1e-16
    assert not bad.any(), (POINTS[bad], got[bad], ref[bad])


def test_numpy_extremes_are_finite_limits():
    f0 = NUMPY_FUNCTIONS["bs_xexpm1"]
    np.testing.assert_allclose(f0(np.array([800.0, -800.0])), [0.0, 800.0])
    d1 = NUMPY_FUNCTIONS["bs_xexpm1_d1"]
    np.testing.assert_allclose(d1(np.array([800.0, -800.0])), [0.0, -1.0])
    d2 = NUMPY_FUNCTIONS["bs_xexpm1_d2"]
    np.testing.assert_allclose(d2(np.array([800.0, -800.0])), [0.0, 0.0], atol=1e-300)


def test_numpy_scalar_and_2d_input():
    assert float(NUMPY_FUNCTIONS["bs_xexpm1"](0.0)) == 1.0
    a = np.linspace(-3, 3, 12).reshape(3, 4)
    assert NUMPY_FUNCTIONS["bs_xexpm1_d3"](a).shape == (3, 4)


def test_every_class_follows_the_printing_protocol():
    assert len(SAFE_FUNCTIONS) == MAX_ORDER + 1
    for cls in SAFE_FUNCTIONS:
        assert cls.c_name.startswith("bs_")
        assert cls.numpy_name in NUMPY_FUNCTIONS
        assert f"static inline double {cls.c_name}(double x)" in C_PRELUDE


def test_sympy_printers_use_the_protocol():
    from sympy.printing.c import C99CodePrinter
    from sympy.printing.numpy import NumPyPrinter

    expr = XOverExpm1(-x / 10 - 4) + x_over_expm1_derivative(2)(x)
    c = C99CodePrinter().doprint(expr)
    assert "bs_xexpm1(-1.0/10.0*x - 4)" in c and "bs_xexpm1_d2(x)" in c
    py = NumPyPrinter().doprint(expr)
    assert "bs_xexpm1(" in py and "bs_xexpm1_d2(x)" in py
    fn = sympy.lambdify(x, expr, modules=[NUMPY_FUNCTIONS, "numpy"])
    expected = NUMPY_FUNCTIONS["bs_xexpm1"](0.0) + NUMPY_FUNCTIONS["bs_xexpm1_d2"](-40.0)
    assert fn(-40.0) == pytest.approx(expected, rel=1e-15)


def _compile_prelude(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    wrappers = "\n".join(
        f"double w_{cls.order}(double x) {{ return {cls.c_name}(x); }}" for cls in SAFE_FUNCTIONS
    )
    src = tmp_path / "prelude.c"
    src.write_text("#include <math.h>\n" + C_PRELUDE + wrappers + "\n")
    lib = tmp_path / "prelude.so"
    proc = subprocess.run(
        [
            cc,
            "-std=c99",
            "-O2",
            "-Wall",
            "-Werror",
            "-shared",
            "-fPIC",
            str(src),
            "-o",
            str(lib),
            "-lm",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(str(lib))


def test_c_prelude_compiles_and_matches_numpy(tmp_path):
    lib = _compile_prelude(tmp_path)
    for cls in SAFE_FUNCTIONS:
        fn = getattr(lib, f"w_{cls.order}")
        fn.restype, fn.argtypes = ctypes.c_double, [ctypes.c_double]
        c_values = np.array([fn(float(v)) for v in POINTS])
        np_values = NUMPY_FUNCTIONS[cls.numpy_name](POINTS)
        tol = 1e-14 if cls.order <= 3 else 1e-11
        np.testing.assert_allclose(c_values, np_values, rtol=tol, atol=1e-300)
        assert all(math.isfinite(v) for v in c_values)
