"""Numerical rewrites: each pass on its own, then all together on the HH rate functions."""

import numpy as np
import pytest
import sympy
from sympy.codegen.cfunctions import expm1, log1p

from biosnn.codegen.functions import NUMPY_FUNCTIONS, SAFE_FUNCTIONS, XOverExpm1, XOverExpm1GivenExp
from biosnn.codegen.rewrite import (
    make_numerically_safe,
    removable_singularities,
    share_exponentials,
    use_expm1,
    use_log1p,
)

V = sympy.Symbol("V", real=True)
x = sympy.Symbol("x", real=True)
k, Vt, a = sympy.symbols("k Vt a", real=True)


def alpha_m(v=V, scale=1, exact=False):
    """HH alpha_m (1/ms, V in mV); ``scale`` converts V to other units (1e-3 for volt).

    ``exact=True`` uses the rational 1/10 (the reference); otherwise the float 0.1, as a
    model file gives it (sympy distributes it: ``0.1*V + 4.0``).
    """
    vs = v / scale
    c = sympy.Rational(1, 10) if exact else 0.1
    return c * (vs + 40) / (1 - sympy.exp(-(vs + 40) / 10))


def alpha_n(v=V, exact=False):
    c = sympy.Rational(1, 100) if exact else 0.01
    return c * (v + 55) / (1 - sympy.exp(-(v + 55) / 10))


def numeric(expr, var=V):
    return sympy.lambdify(var, expr, modules=[NUMPY_FUNCTIONS, "numpy"])


def exact(expr, value, var=V):
    """High-precision value of the *original* expression (sympy evalf, 50 digits)."""
    point = value if isinstance(value, sympy.Basic) else sympy.Float(float(value), 60)
    return sympy.Float(expr.evalf(50, subs={var: point}), 50)


def away_points():
    return np.concatenate([np.linspace(-120, 60, 181) + 0.37, [-40.001, -39.999, -54.9]])


# -- removable_singularities ------------------------------------------------------------------


@pytest.mark.parametrize("rate, v0, limit", [(alpha_m, -40.0, 1.0), (alpha_n, -55.0, 0.1)])
def test_hh_rates_at_the_singularity_give_the_limit(rate, v0, limit):
    safe = removable_singularities(rate())
    assert safe.has(XOverExpm1)
    assert numeric(safe)(v0) == pytest.approx(limit, rel=1e-15)
    assert float(safe.subs(V, v0)) == pytest.approx(limit, rel=1e-15)
    original = numeric(rate())
    with np.errstate(all="ignore"):
        assert not np.isfinite(original(v0))  # the reason for the pass


@pytest.mark.parametrize("rate", [alpha_m, alpha_n])
def test_hh_rates_agree_with_the_original_elsewhere(rate):
    safe = numeric(removable_singularities(rate()))
    for v in away_points():
        ref = exact(rate(exact=True), v)
        assert abs(safe(v) - float(ref)) <= 1e-12 * abs(float(ref)), v


@pytest.mark.parametrize("rate, v0", [(alpha_m, -40), (alpha_n, -55)])
def test_derivatives_are_safe_and_exact(rate, v0):
    exact_rate = rate(exact=True)
    safe = removable_singularities(rate())
    # 1e-30 mV from the singular point: the original formula, evaluated with 50 digits,
    # equals its limit there to ~1e-30
    near = sympy.Float(v0, 60) + sympy.Float("1e-30", 60)
    for order in (1, 2, 3):
        d_safe = sympy.diff(safe, V, order)
        assert d_safe.has(*SAFE_FUNCTIONS)
        f_safe = numeric(d_safe)
        d_orig = sympy.diff(exact_rate, V, order)
        limit = float(exact(d_orig, near))
        assert f_safe(float(v0)) == pytest.approx(limit, rel=1e-12, abs=1e-18)
        for v in away_points()[::9]:
            ref = float(exact(d_orig, v))
            assert f_safe(v) == pytest.approx(ref, rel=1e-11, abs=1e-16), (order, v)


def test_forms_sympy_produces():
    cases = [
        # (expression, expected)
        (0.1 * (V + 40) / (1 - sympy.exp(-(V + 40) / 10)), XOverExpm1(-V / 10 - 4)),
        (
            sympy.Rational(1, 10) * (V + 40) / (1 - sympy.exp(-(V + 40) / 10)),
            XOverExpm1(-V / 10 - 4),
        ),
        (-(V + 40) / (10 - 10 * sympy.exp(-(V + 40) / 10)), -XOverExpm1(-V / 10 - 4)),
        (0.032 * (-50 - V) / (sympy.exp((-50 - V) / 5) - 1), 0.16 * XOverExpm1(-V / 5 - 10)),
        (a * (V - Vt) / (1 - sympy.exp(-(V - Vt) / k)), a * k * XOverExpm1((Vt - V) / k)),
    ]
    for expr, expected in cases:
        got = removable_singularities(expr)
        assert sympy.simplify(got - expected) == 0, (expr, got)


def test_float_exponent_split_by_sympy_and_unit_scaling():
    # sympy splits exp(-0.1*V - 4.0) into 0.0183...*exp(-0.1*V)
    split = (0.1 * V + 4.0) / (1 - sympy.exp(-0.1 * V - 4.0))
    assert any(abs(abs(float(c)) - np.exp(-4.0)) < 1e-16 for c in split.atoms(sympy.Float))
    got = removable_singularities(split)
    assert got.has(XOverExpm1)
    assert numeric(got)(-40.0) == pytest.approx(1.0, rel=1e-14)
    # V in volt, rate in 1/second: 1000x the rate of alpha_m(V in mV)
    volt = 1000 * alpha_m(scale=sympy.Float(1e-3))
    safe = removable_singularities(volt)
    assert safe.has(XOverExpm1)
    assert numeric(safe)(-0.040) == pytest.approx(1000.0, rel=1e-12)
    assert numeric(safe)(-0.0123) == pytest.approx(float(exact(volt, -0.0123)), rel=1e-12)


def test_inside_piecewise_and_products():
    expr = sympy.Piecewise((alpha_m() * sympy.exp(V / 100), V > -80), (0, True))
    got = removable_singularities(expr)
    assert got.has(XOverExpm1)
    assert numeric(got)(-40.0) == pytest.approx(np.exp(-0.4), rel=1e-14)


@pytest.mark.parametrize(
    "expr",
    [
        4 * sympy.exp(-(V + 65) / 18),
        1 / (1 + sympy.exp(-(V + 35) / 10)),
        (V + 40) / (1 - sympy.exp(-(V + 30) / 10)),  # a real pole: not removable
        (V + 40) / (1 - sympy.Rational(1, 2) * sympy.exp(-(V + 40) / 10)),
        V**2 + 3 * V,
        sympy.Integer(3),
    ],
)
def test_expressions_without_the_pattern_are_unchanged(expr):
    assert removable_singularities(expr) == expr


# -- use_expm1 ----------------------------------------------------------------------------------


def test_expm1_forms():
    assert use_expm1(sympy.exp(x) - 1) == expm1(x)
    assert use_expm1(1 - sympy.exp(x)) == -expm1(x)
    assert use_expm1(3 * sympy.exp(x) - 3 + x) == 3 * expm1(x) + x
    assert use_expm1(1 / (sympy.exp(x) - 1)) == 1 / expm1(x)
    assert use_expm1(sympy.exp(x) - 2) == sympy.exp(x) - 2
    assert use_expm1(sympy.exp(x) + 1) == sympy.exp(x) + 1


def test_expm1_accuracy_for_tiny_arguments():
    f_naive = numeric(sympy.exp(x) - 1, x)
    f_safe = numeric(use_expm1(sympy.exp(x) - 1), x)
    for value in (1e-10, 1e-15, -3e-17, 1e-300):
        assert f_safe(value) == pytest.approx(value, rel=1e-15)
    assert f_naive(1e-17) == 0.0  # what the pass avoids


# -- use_log1p ----------------------------------------------------------------------------------


def test_log1p_forms():
    assert use_log1p(sympy.log(1 + x)) == log1p(x)
    assert use_log1p(sympy.log(1 + sympy.exp(x))) == log1p(sympy.exp(x))
    assert use_log1p(sympy.log(2 + x)) == sympy.log(2 + x)
    assert use_log1p(sympy.log(x)) == sympy.log(x)


def test_log1p_accuracy_for_tiny_arguments():
    f_safe = numeric(use_log1p(sympy.log(1 + x)), x)
    for value in (1e-10, 1e-16, -2e-17, 1e-300):
        assert f_safe(value) == pytest.approx(value, rel=1e-15)


# -- all passes ----------------------------------------------------------------------------------


def test_make_numerically_safe_applies_every_pass():
    expr = alpha_m() + sympy.log(1 + sympy.exp(-V)) + 1 / (sympy.exp(V / 5) - 1)
    got = make_numerically_safe(expr)
    assert got.has(XOverExpm1) and got.has(log1p) and got.has(expm1)
    assert not got.has(sympy.log)


def test_make_numerically_safe_leaves_plain_expressions_alone():
    expr = -(V + 65) / 10 + 0.07 * sympy.exp(-(V + 65) / 20)
    assert make_numerically_safe(expr) == expr
    assert make_numerically_safe(sympy.Integer(0)) == 0
    assert make_numerically_safe(V > 0) == (V > 0)


# -- the library model ----------------------------------------------------------------------------


def test_library_hh_kernel_spec_is_safe_at_the_singular_voltages():
    import biosnn

    model = biosnn.load_model("hodgkin_huxley")
    spec = model.kernel_spec()
    assert any(fi.has(XOverExpm1) for fi in spec.f)
    ys = [model.symbols[s] for s in spec.states]
    values = {model.symbols[k]: float(model.to_internal(k, v)) for k, v in model.params.items()}
    y0 = model.initial_state()
    for v_mv in (-40.0, -55.0):
        point = dict(values)
        point.update({y: float(y0[s]) for y, s in zip(ys, spec.states, strict=True)})
        point[model.symbols["V"]] = v_mv
        for expr in list(spec.f) + [j for row in spec.jac for j in row]:
            f = sympy.lambdify(list(point), expr, modules=[NUMPY_FUNCTIONS, "numpy"])
            assert np.isfinite(f(*point.values())), (v_mv, expr)


# -- shared exponentials (C printing) -------------------------------------------------------


def hh_rates():
    """The six HH rate functions (1/ms, V in mV) after the numerical-safety passes."""
    e = sympy.exp
    raw = [
        alpha_m(),
        4 * e(-(V + 65) / 18),
        0.07 * e(-(V + 65) / 20),
        1 / (1 + e(-(V + 35) / 10)),
        alpha_n(),
        0.125 * e(-(V + 65) / 80),
    ]
    return [make_numerically_safe(r) for r in raw]


def _count_exp(exprs):
    return sum(
        1
        for ex in exprs
        for node in sympy.preorder_traversal(ex)
        if isinstance(node, (sympy.exp, expm1, XOverExpm1))
    )


def _unshare(defs, exprs):
    """Substitute the bases back and write XOverExpm1GivenExp as x/(exp(x) - 1)."""
    back = {sym: value for sym, value in defs}
    return [ex.xreplace(back).rewrite(sympy.exp) for ex in exprs]


def test_share_exponentials_hh_needs_three_exp_calls():
    rates = hh_rates()
    assert _count_exp(rates) == 6  # bm, ah, bh, bn exp + two XOverExpm1
    defs, out = share_exponentials(rates)
    # exp(-V/80 - 13/16) serves bn and ah (power 4); exp(-V/10 - 11/2) serves bh, am, an;
    # bm's exp(-V/18 - 65/18) has no partner (80/18, 10/18 are not integers)
    assert [str(value) for _, value in defs] == ["exp(-V/80 - 13/16)", "exp(-V/10 - 11/2)"]
    assert _count_exp([v for _, v in defs] + out) == 3
    assert (
        sum(isinstance(n, XOverExpm1GivenExp) for ex in out for n in sympy.preorder_traversal(ex))
        == 2
    )


@pytest.mark.parametrize("v", [-100.0, -65.0, -55.0, -40.0, -39.99999, -35.0, 0.0, 50.0])
def test_share_exponentials_is_an_identity(v):
    # exact values (50 digits) of the rewritten rates equal those of the originals; the
    # constant factors exp(shift) are rounded to 30 digits, hence 1e-25
    rates = hh_rates()
    defs, out = share_exponentials(rates)
    for orig, new in zip(rates, _unshare(defs, out), strict=True):
        want = exact(orig.rewrite(sympy.exp), v)
        got = exact(new, v)
        assert abs(got - want) <= 1e-25 * abs(want)


def test_share_exponentials_leaves_what_it_cannot_share():
    g = sympy.Symbol("g", real=True)
    alone = [sympy.exp(-V / 18), sympy.exp(g * V), sympy.exp(-V / 10) + sympy.exp(-V / 80)]
    defs, out = share_exponentials(alone)
    assert defs == [] and out == alone  # ratio 8 > MAX_SHARED_POWER; g*V not linear
    shifted = [sympy.exp(V / 10), sympy.exp(V / 10 + 30)]  # shift 30 > MAX_SHARED_SHIFT
    assert share_exponentials(shifted) == ([], shifted)


def test_share_exponentials_exact_multiples():
    defs, out = share_exponentials([sympy.exp(-V / 40), sympy.exp(-V / 20 + 1)])
    ((base, value),) = defs
    assert value == sympy.exp(-V / 40)
    assert out[0] == base
    assert out[1].has(base**2) and abs(float(out[1] / base**2) - np.e) < 1e-15


@pytest.fixture(scope="module")
def c_lib(tmp_path_factory):
    """C: bs_xexpm1e alone, and the HH rates printed by the C backend (shared exps)."""
    from biosnn.codegen import c_build, c_model
    from biosnn.codegen.functions import C_GIVEN_EXP, C_PRELUDE

    if c_build.find_compiler() is None:
        pytest.skip("no C compiler")
    body = c_model._block(hh_rates(), [f"out[{i}]" for i in range(6)], {"V": "y[0]"})
    assert body.count("bs_xexpm1e(") == 2 and body.count(" exp(") + body.count("*exp(") == 3
    src = (
        "#include <math.h>\n#include <stdint.h>\n"
        + C_PRELUDE
        + C_GIVEN_EXP
        + """
void xe_array(int64_t n, const double *x, double *out) {
    for (int64_t i = 0; i < n; ++i) out[i] = bs_xexpm1e(x[i], exp(x[i]));
}
void rates_array(int64_t n, const double *v, double *out6) {
    for (int64_t i = 0; i < n; ++i) {
        const double *y = v + i;
        double *out = out6 + 6 * i;
"""
        + body
        + "\n    }\n}\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOSNN_CACHE_DIR", str(tmp_path_factory.mktemp("ccache")))
        return c_build.load_library(c_build.build(src))


def _c_call(lib, name, x, width=1):
    import ctypes

    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(x.size * width)
    getattr(lib, name)(
        ctypes.c_int64(x.size), ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(out.ctypes.data)
    )
    return out.reshape(x.size, width) if width > 1 else out


def test_c_x_over_expm1_given_exp_accuracy(c_lib):
    # against mpmath x/expm1(x) at 40 digits: the Bernoulli series (|x| < 1) within 2 ulp,
    # x/(e - 1) with libm's e within 4 ulp (e/|e - 1| <= 1.6 amplifies e's 0.5-1 ulp)
    import mpmath

    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            rng.uniform(-1, 1, 3000),
            rng.uniform(-40, 40, 3000),
            [0.0, 1e-9, -1e-9, 0.999999, -0.999999, 1.0, -1.0],
        ]
    )
    got = _c_call(c_lib, "xe_array", x)
    with mpmath.workdps(40):
        want = np.array([float(xi / mpmath.expm1(mpmath.mpf(xi))) if xi else 1.0 for xi in x])
    ulp = np.abs(got - want) / np.spacing(np.abs(want))
    assert ulp[np.abs(x) < 1].max() <= 2.0
    assert ulp.max() <= 4.0


def test_c_hh_rates_with_shared_exponentials(c_lib):
    # the printed HH rates agree with their exact values (mpmath) to 1e-14 relative, over
    # the whole physiological range and at both removable singularities (-40, -55 mV)
    v = np.concatenate([np.linspace(-120.0, 60.0, 721), [-40.0, -55.0, -40.0 + 1e-7]])
    got = _c_call(c_lib, "rates_array", v, width=6)
    for j, rate in enumerate(hh_rates()):
        want = np.array(
            [
                float(exact(rate.rewrite(sympy.exp), vi))
                if vi not in (-40.0, -55.0)
                else float(rate.subs(V, vi))
                for vi in v
            ]
        )
        np.testing.assert_allclose(got[:, j], want, rtol=1e-14, atol=0)
