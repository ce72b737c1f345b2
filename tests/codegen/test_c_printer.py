"""Golden tests of the C99 printer, and a numeric check of printed code against sympy."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from biosnn.codegen.c_printer import print_c

x, y, V = sp.symbols("x y V", real=True)
STORE = {"x": "y[0]", "y": "p[1]", "V": "y[2]", "t": "t"}

GOLDEN = [
    (x**2, "(y[0]*y[0])"),
    (x**3, "(y[0]*y[0]*y[0])"),
    (1 / x, "1.0/y[0]"),
    (x**-2, "1.0/(y[0]*y[0])"),
    ((x + 1) ** 2, "((y[0] + 1)*(y[0] + 1))"),
    (V / (1 - x) ** 2, "y[2]/((1 - y[0])*(1 - y[0]))"),
    (x / y**3, "y[0]/(p[1]*p[1]*p[1])"),
    (sp.sqrt(x), "sqrt(y[0])"),
    (x**0.5, "sqrt(y[0])"),
    (x**-0.5, "1.0/sqrt(y[0])"),
    (x**2.5, "pow(y[0], 2.5)"),
    (x**y, "pow(y[0], p[1])"),
    (sp.Piecewise((x, x > 0), (y, True)), "((y[0] > 0) ? (y[0]) : p[1])"),
    (
        sp.Piecewise((x, x > 0), (2 * y, y > 0)),
        "((y[0] > 0) ? (y[0]) : ((p[1] > 0) ? (2*p[1]) : NAN))",
    ),
    (
        sp.Piecewise((x, sp.And(x > 0, y > 0)), (y, True)),
        "(((y[0] > 0) && (p[1] > 0)) ? (y[0]) : p[1])",
    ),
    (sp.Min(x, y), "fmin(y[0], p[1])"),
    (sp.Max(x, y, 1), "fmax(1, fmax(y[0], p[1]))"),
    (sp.Abs(x), "fabs(y[0])"),
    (sp.sign(x), "(double)((y[0] > 0) - (y[0] < 0))"),
    (sp.floor(x), "floor(y[0])"),
    (sp.ceiling(x), "ceil(y[0])"),
    (x > y, "(y[0] > p[1])"),
    (x <= 1, "(y[0] <= 1)"),
    (sp.And(x > 0, y < 1), "((y[0] > 0) && (p[1] < 1))"),
    (sp.Or(x > 0, y < 1), "((y[0] > 0) || (p[1] < 1))"),
    (sp.Not(sp.And(x > 0, y < 1)), "!(((y[0] > 0) && (p[1] < 1)))"),
    (expm1(x), "expm1(y[0])"),
    (log1p(x), "log1p(y[0])"),
    (sp.exp(-x / 3), "exp(-1.0/3.0*y[0])"),
    (sp.Float(0.1) * x, "0.1*y[0]"),
    (sp.Float(-65.0) + V, "y[2] - 65.0"),
    (sp.Symbol("t", real=True) * 2, "2*t"),
    (sp.Symbol("cse3", real=True) + 1, "cse3 + 1"),
]


@pytest.mark.parametrize("expr, expected", GOLDEN, ids=[str(e) for e, _ in GOLDEN])
def test_golden(expr, expected):
    assert print_c(expr, STORE) == expected


def test_safe_function_prints_by_c_name():
    from biosnn.codegen.functions import XOverExpm1, x_over_expm1_derivative

    assert print_c(XOverExpm1(x), STORE) == f"{XOverExpm1.c_name}(y[0])"
    d1 = x_over_expm1_derivative(1)
    assert print_c(d1(2 * x), STORE) == f"{d1.c_name}(2*y[0])"


# -- numeric: compile printed expressions and compare with sympy ----------------------
NUMERIC = [
    V / (1 - sp.exp(-V / 10)) ** 2,
    0.1 * (V + 40) / (1 - sp.exp(-(V + 40) / 10)),
    x**3 * y - x / y**2 + sp.sqrt(sp.Abs(x)) * (x**2 + 1) ** -0.5,
    sp.Piecewise((x**2, x > 0.5), (-x, x < -0.5), (sp.Rational(1, 3), True)),
    sp.Max(x, y, 0.2) - sp.Min(x, 2 * y),
    sp.sign(x - 0.1) * sp.floor(3 * y) + sp.ceiling(x),
    expm1(x / 7) + log1p(y**2) + sp.tanh(x) * sp.cosh(y) / sp.sinh(1 + y**2),
    sp.Piecewise(
        (1.0, sp.And(x > 0, sp.Not(y > 0.3))), (2.0, sp.Or(x < -0.7, y > 0.9)), (3.0, True)
    ),
    (x - y) ** -3 + 1 / (x + 3) ** 4,
]


@pytest.fixture(scope="module")
def numeric_lib(tmp_path_factory):
    from biosnn.codegen import c_build

    if c_build.find_compiler() is None:
        pytest.skip("no C compiler")
    store = {"x": "a[0]", "y": "a[1]", "V": "a[2]"}
    body = "\n".join(f"    out[{k}] = {print_c(e, store)};" for k, e in enumerate(NUMERIC))
    src = f"#include <math.h>\nvoid eval(const double *a, double *out) {{\n{body}\n}}\n"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOSNN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        lib = c_build.load_library(c_build.build(src))
    fn = lib.eval
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return fn


def test_printed_c_evaluates_like_sympy(numeric_lib):
    rng = np.random.default_rng(1)
    for _ in range(50):
        a = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-80, 40)])
        out = np.zeros(len(NUMERIC))
        numeric_lib(a.ctypes.data, out.ctypes.data)
        subs = {x: a[0], y: a[1], V: a[2]}
        expected = [complex(sp.N(e.subs(subs), 30)).real for e in NUMERIC]
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
