"""Reproducers of the crashes fuzzing found in the equation -> code path (issue 9, section 4).

Each test is one root cause; where a backend is involved, NumPy and C both run (explicit
``backend="c"``: the result must come from C, not from a fallback) and agree.

1. Constants printed as POSIX macros (``M_PI``, ``M_E``, ``M_LN2``, ``M_LN10``),
   undeclared under ``-std=c99`` and in the NumPy network engine.
2. A right-hand side that is exactly the state or the noise (``dv/dt = v``, ``dv/dt =
   xi``): a Python ``0`` from ``xreplace`` had no ``.has``/``.xreplace``.
3. ``floor``, ``ceil``, ``sign`` (and ``abs``, ``minimum``, ``maximum`` at second order):
   unprintable derivatives (``Derivative(floor(v), v)``, ``DiracDelta``).
4. Terms that are infinite or undefined for every value (``1/(v - v)``, ``1/0`` in an
   unused alias, ``v = v/0`` in a reset) passed checking and crashed code generation.
5. ``refractory = "t"`` was accepted as a refractory *time* and printed into C where ``t``
   does not exist.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from biosnn import Model, simulate
from biosnn.analysis import find_equilibria
from biosnn.analysis._system import System
from biosnn.codegen import c_backend
from biosnn.errors import ModelError, SimulationError
from biosnn.network import Network, Population, StateMonitor


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path / "cache"))


def run_both(model, duration, **kw):
    """NumPy and C results of one run; C must really run (no fallback warning)."""
    out = {}
    for backend in ("numpy", "c"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            res = simulate(model, duration, backend=backend, **kw)
        assert res.stats["backend"] == backend
        out[backend] = res
    return out["numpy"], out["c"]


# -- 1. constants ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, value",
    [
        ("pi", np.pi),
        ("exp(1)", np.e),
        ("log(2)", np.log(2.0)),
        ("log10(20)", np.log10(20.0)),
        ("2/sqrt(pi)", 2 / np.sqrt(np.pi)),
        ("1/sqrt(2)", np.sqrt(0.5)),
        ("pi/2", np.pi / 2),
    ],
)
def test_constants_compile_in_c_and_match_the_analytic_solution(text, value):
    m = Model(f"dv/dt = ({text} - v)/tau : 1", params={"tau": 2.0}, init={"v": 0.0}, time="1")
    a, b = run_both(m, 4.0, method="rk4", dt=0.01)
    # analytic: v(t) = c*(1 - exp(-t/tau)); rk4 at dt = 0.01 is exact to ~1e-11
    exact = value * (1 - np.exp(-a.t / 2.0))
    np.testing.assert_allclose(a["v"][0], exact, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b["v"][0], a["v"][0], rtol=0, atol=1e-12)
    source = c_backend.generate_source(m.kernel_spec(), "fixed")
    assert "M_" not in source.split("/* model ", 1)[1]


def test_log10_of_a_state_compiles_in_c():
    # log10(x) was printed as log(x)/M_LN10
    m = Model("dv/dt = -log10(v)/tau : 1", params={"tau": 1.0}, init={"v": 5.0}, time="1")
    a, b = run_both(m, 2.0, method="rodas4", rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b["v"], a["v"], rtol=1e-6)
    # reference: v decreases towards the equilibrium log10(v) = 0, v = 1
    assert 1.0 < a["v"][0, -1] < 5.0


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_network_with_pi_runs_on_both_engines(backend):
    m = Model("dv/dt = (pi*mV - v)/tau : volt", params={"tau": "10 ms"}, init={"v": "0 mV"})
    P = Population(m, 3, method="rk4")
    mon = StateMonitor(P, "v", [0, 1, 2])
    net = Network(P, mon, dt=0.1, seed=0, backend=backend)
    net.run(20.0)
    assert net.stats["backend"] == backend
    # analytic: v(t) = pi*(1 - exp(-t/10 ms)) mV (rk4 at dt = 0.1 ms: error ~1e-9)
    np.testing.assert_allclose(
        mon["v"], np.pi * (1 - np.exp(-mon.t / 10.0)) + 0 * mon["v"], atol=1e-8
    )


# -- 2. right-hand side = the state / the noise -------------------------------------------
def test_rhs_equal_to_the_state():
    m = Model("dv/dt = v : 1", init={"v": 1.0})
    spec = m.kernel_spec()
    assert spec.exp_euler == ((1, 0),) and spec.linear is not None
    a, b = run_both(m, 1.0, method="rk4", dt=0.001)
    # analytic: v = exp(t)
    np.testing.assert_allclose(a["v"][0], np.exp(a.t), rtol=1e-12)
    np.testing.assert_allclose(b["v"][0], a["v"][0], rtol=1e-13)
    e = simulate(m, 1.0, method="exponential_euler", dt=0.01, backend="numpy")
    np.testing.assert_allclose(e["v"][0, -1], np.e, rtol=1e-12)  # exact for linear f


def test_rhs_equal_to_the_noise():
    m = Model("dv/dt = xi : 1")
    assert m.rhs["v"] == 0 and m.noise["v"] == (1,)
    a, b = run_both(m, 1.0, method="euler_maruyama", dt=0.01, n=200, seed=3)
    # same noise numbers in both backends (biosnn.solvers.noise): the same paths
    np.testing.assert_allclose(b["v"], a["v"], rtol=0, atol=1e-12)
    # a Wiener process: Var v(1) = 1; 200 samples give 1 +- 0.3 (3 sigma ~ 0.3)
    assert 0.7 < np.var(a["v"][:, -1]) < 1.3


# -- 3. non-smooth functions ---------------------------------------------------------------
@pytest.mark.parametrize("fn", ["floor(w)", "ceil(w)", "sign(w)"])
def test_piecewise_constant_functions_have_zero_derivative(fn):
    # w relaxes to 0.25: floor -> 0, ceil -> 1, sign -> 1; v relaxes to 1 + 0.5*fn(0.25)
    m = Model(f"dv/dt = 1 + 0.5*{fn} - v : 1\ndw/dt = 0.25 - w : 1", init={"v": 0.0, "w": 0.5})
    assert m.jacobian.tolist() == [[-1, 0], [0, -1]]
    a, b = run_both(m, 3.0, method="rodas4", rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b["v"], a["v"], rtol=1e-7, atol=1e-9)
    level = {"floor(w)": 0.0, "ceil(w)": 1.0, "sign(w)": 1.0}[fn]
    eq = find_equilibria(m, guesses=[{"v": 1.0, "w": 0.3}])
    assert len(eq) == 1
    np.testing.assert_allclose(eq[0].state["v"], 1 + 0.5 * level, rtol=1e-10)
    np.testing.assert_allclose(eq[0].eigenvalues, [-1, -1])
    s = System(m)
    y = np.array([[0.3], [0.2]])
    np.testing.assert_array_equal(s.hess(y, y, y), 0.0)
    np.testing.assert_array_equal(s.third(y, y, y, y), 0.0)


@pytest.mark.parametrize(
    "fn, d1, d2",
    [
        # d/dv and d2/dv2 at v = 0.3 (from the definitions: |v|' = sign v, max(v, .5)' = 0
        # below 0.5, min(v, .5)' = 1 below 0.5; second derivatives 0 away from the kinks)
        ("abs(v)", 1.0, 0.0),
        ("maximum(v, 0.5)", 0.0, 0.0),
        ("minimum(v, 0.5)", 1.0, 0.0),
        ("clip(v, 0, 0.2)", 0.0, 0.0),
        ("abs(v)**3", 3 * 0.3**2, 6 * 0.3),
    ],
)
def test_kinked_functions_have_printable_second_derivatives(fn, d1, d2):
    m = Model(f"dv/dt = {fn} - w : 1\ndw/dt = v - w : 1")
    s = System(m)
    y = np.array([[0.3], [0.1]])
    e0 = np.array([[1.0], [0.0]])
    np.testing.assert_allclose(s.jac(y)[0, 0, 0], d1, rtol=1e-12)
    np.testing.assert_allclose(s.hess(y, e0, e0)[0, 0], d2, rtol=1e-12, atol=1e-15)
    a, b = run_both(m, 2.0, method="rodas4", rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b["v"], a["v"], rtol=1e-6, atol=1e-9)


# -- 4. terms that are infinite or undefined -------------------------------------------------
@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(equations="dv/dt = 1/(v - v) : 1"), "1/(v - v) is infinite (such as 1/0"),
        (
            dict(equations="dv/dt = -v : 1\nx = 1/0 : 1"),
            'line 2: in "x = 1/0 : 1", 1/0 divides by zero',
        ),
        (dict(equations="dv/dt = 1 : 1", threshold="v > 1", reset="v = v/0"), "v/0 divides"),
        (
            dict(equations="dv/dt = 1 : 1", threshold="v > 1", reset="v = 1/(v - v)"),
            "1/(v - v) is infinite (such as 1/0",
        ),
        (dict(equations="dv/dt = 0*log(0) + v : 1"), "log(0) is infinite"),
        (dict(equations="dv/dt = (v - v)/(v - v) : 1"), "is undefined"),
        (dict(equations="dv/dt = sqrt(-1) : 1"), "sqrt(-1) is not a real number"),
        (
            dict(equations="a = v - v : 1\ndv/dt = 1/a : 1"),
            "line 2: in 'dv/dt = 1/a : 1': "
            "the expression is infinite (such as 1/0 or log(0)) once its aliases are substituted",
        ),
        (dict(equations="dv/dt = 1 : 1", threshold="1/(v - v) > 0"), "is infinite"),
    ],
)
def test_terms_that_cannot_be_computed_are_model_errors(kw, words):
    with pytest.raises(ModelError) as info:
        m = Model(**kw)
        m.kernel_spec()
    assert words in str(info.value)


def test_division_by_a_literal_zero_is_found_by_the_checking_pass():
    # without sympy: the constructor refuses it (unused alias included)
    with pytest.raises(ModelError, match=r"x = 1/0.*1/0 divides by zero"):
        Model("dv/dt = -v : 1\nx = 1/0 : 1")


# -- 5. refractory "t" -----------------------------------------------------------------
def test_refractory_time_cannot_depend_on_t():
    with pytest.raises(
        ModelError,
        match="refractory 't': a refractory time may depend on parameters only, not on t",
    ):
        Model("dv/dt = 1 : 1", threshold="v > 1", reset="v = 0", refractory="t")


def test_refractory_condition_with_t_compiles_and_agrees():
    # a condition may use t: refractory while t < 1.5 after each spike, here the whole
    # start; v climbs at rate 1 and resets at 1, so spikes at t = 1, 2, ... but the first
    # reset holds v (unless refractory) until t = 1.5: spikes at 1, 2.5, 3.5
    m = Model(
        "dv/dt = 1 : 1 (unless refractory)",
        threshold="v > 1",
        reset="v = 0",
        refractory="t < 1.5",
        time="1",
    )
    a, b = run_both(m, 4.0, method="euler", dt=0.01)
    np.testing.assert_allclose(a.spikes[0], [1.0, 2.5, 3.5], atol=0.011)
    np.testing.assert_allclose(b.spikes[0], a.spikes[0], atol=1e-9)


# -- 6. found by the fuzzer (tests/fuzz_large.py), each a distinct root cause ---------------
FUZZ_FOUND = [
    # sympy's AccumulationBounds; t**-inf and mV**inf overflowed int(); exprel(inf)
    # in minimum() (sympy: "not comparable")
    "dv/dt = cos(inf) : 1",
    "dv/dt = t**-inf*second**-1 : 1/second",
    "dv/dt = v*(mV**inf)/mV : 1",
    "dv/dt = minimum(v, exprel(inf)) : 1",
    # 1e300**pi raises OverflowError in Python (inf in NumPy and C)
    "I = 1e300 : 1\ndv/dt = (I**pi)/I - v : 1",
    # a relation that becomes zoo < -1 once an alias is substituted
    "g = -1 : 1\ndv/dt = where(0.0**g < -1, 1, v) : 1",
    # sympy nests its own Min inside biosnn's: a DiracDelta in the second derivative
    "I = clip(clip(v, t, v)**cos(0.0), log(t), exp(v)) : 1\ndv/dt = abs(clip(I, 0.0, v)) - 0.5 : 1",
    # nan < -inf while splitting f = A*v + B at v = 0
    "dv/dt = v : 1\ndu/dt = where(v/u < -inf, 1, 2) : 1",
    # 1/t at t = 0 (ZeroDivisionError in the NumPy kernel; inf in C), a complex power
    "dv/dt = 1e-12/t : 1",
    "I = minimum(v, -1) : 1\ndv/dt = I**0.76 : 1",
    # sympy writes abs(exp(z)) as exp(re(z)): re() printed nowhere
    "dv/dt = abs(exp(t**v)) - v : 1",
]


@pytest.mark.parametrize("equations", FUZZ_FOUND)
def test_fuzz_found_inputs_run_or_raise_biosnn_errors(equations):
    from biosnn.errors import BiosnnError

    try:
        m = Model(
            equations,
            init={"v": 0.5} if "dv/dt" in equations else None,
            time="1" if "second" not in equations and "mV" not in equations else None,
        )
        m.kernel_spec()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            simulate(m, 0.05, method="rk4", dt=0.01, backend="numpy")
            if not any(m.kernel_spec().t in f.free_symbols for f in m.kernel_spec().f):
                s = System(m)
                y = np.full((len(m.states), 1), 0.3)
                s.hess(y, y, y)
    except BiosnnError as exc:
        assert str(exc).strip()


def test_numeric_source_prints_inf_and_nan():
    # an initial value that is nan or inf was printed as an undefined name
    import sympy

    from biosnn.codegen.numeric_source import compile_numeric, numeric_source

    out = compile_numeric(numeric_source({"f": [sympy.nan, sympy.oo, -sympy.oo]}))["f"]({})
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == -np.inf


def test_an_initial_value_that_overflows_in_internal_units_is_a_model_error():
    # 1e308 V is 1e311 mV = inf: was an OverflowError in the checking pass
    with pytest.raises(ModelError, match="initial v = '1e308 V' is not a finite number"):
        Model("dv/dt = -v/(5*ms) : volt", init={"v": "1e308 V"})


@pytest.mark.parametrize(
    "kwargs",
    [
        # floor(cosh(exp(10))) is an integer of 9566 digits (ValueError converting it)
        dict(equations="dv/dt = floor(cosh(exp(10))) - v : 1", time="1"),
    ],
)
def test_third_fuzz_run_inputs_run_or_raise_biosnn_errors(kwargs):
    from biosnn.errors import BiosnnError

    try:
        m = Model(**kwargs)
        m.kernel_spec()
    except BiosnnError as exc:
        assert str(exc).strip()


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_complex_infinity_folded_by_cse_prints_as_nan(backend):
    # found by tests/fuzz_large.py (seed 41): cse folds log10 of a branch that is <= 0 into
    # sympy's zoo, which the NumPy printer could not print (KeyError 'ComplexInfinity');
    # log10 of a non-positive number is undefined, so the run must report the non-finite
    # state, in both backends
    m = Model(
        """
        du/dt = log10(clip((2/v), clip(0, I, t), (v*0.0))) : 1
        dv/dt = -v : 1
        I = w**ceil(t) + tanh(0*0.0) : 1
        """,
        params={"w": 2.0},
        init={"v": 1},
    )
    with pytest.raises(SimulationError, match="'u'"):
        simulate(m, 1, method="rk4", dt=0.1, backend=backend)


# -- inputs that made sympy hang for minutes (long fuzz run, issue 9 section 4) -------------


@pytest.mark.parametrize(
    "equations, term",
    [
        # I = 1e-12 makes sinh(1e300*I) = sinh(1e288): sympy evaluated it to a finite mpmath
        # number beyond a double, and sin() of it asked mpmath for pi to ~1e288 digits
        (
            "I = 1e-12 : 1\ndv/dt = exp(maximum(where(v <= 0, 0, I), 37)) : 1\n"
            "dw/dt = sin(sinh((1e300 * I))) : 1",
            r"sinh\(1.0e\+300\*I\) is too large",
        ),
        # the same number typed directly (the parser evaluated it the same way)
        ("dv/dt = sin(sinh(1e288)) : 1", r"sinh\(1e288\) is too large"),
    ],
)
def test_numbers_beyond_a_double_are_refused_before_sympy_evaluates_them(equations, term):
    # every backend computes sinh(1e288) as inf (IEEE 754 double range ends near 1.8e308)
    with pytest.raises(ModelError, match=term + r" \(beyond the range of a double\)"):
        Model(equations, time="1").kernel_spec()


def test_fourth_fuzz_run_input_with_nested_where_in_maximum_runs_or_raises():
    # tests/fuzz_large.py (fuzz run 3): the derivative of maximum() had a where() whose
    # condition holds another where(); sympy's piecewise_fold/simplify_logic of that
    # condition took ~100 s
    from biosnn.errors import BiosnnError

    kwargs = {
        "equations": "dv/dt = maximum(I, clip((-inf * 1e300), where(I >= 1e-300, 1, I), "
        "maximum(t, t))) : 1 (unless refractory)\n"
        "I = (maximum(cosh(t), clip(-inf, v, v)) + (where(0.0 <= v, 2, v) * "
        "where(t <= t, -inf, v))) : 1",
        "params": {},
        "time": "1",
        "threshold": "v > minimum(where(I != 1, I, t), (v * I))",
        "reset": "v /= v",
    }
    try:
        Model(**kwargs).kernel_spec()
    except BiosnnError as exc:
        assert str(exc).strip()


def test_derivative_of_maximum_of_nested_where_is_the_analytic_one():
    # the same shape as the fuzz input above, finite: f = max(I, min(W, t)) with
    # I = max(cosh t, v) - where(v >= 0, 2, v), W = where(I >= 1e-300, 1, I).  At t = -2
    # (cosh t = 3.76, min(W, t) = -2 < I) f = I, so by hand df/dv = dI/dv:
    # v = 5: v > cosh t, branch 2 -> 1;  v = 1.5: cosh t wins, branch 2 -> 0;
    # v = -1: cosh t wins, branch v -> -1
    from biosnn.codegen.numpy_backend import NumpyKernel

    m = Model(
        "I = maximum(cosh(t), v) + where(0 <= v, 2, v)*(-1) : 1\n"
        "dv/dt = maximum(I, clip(-inf, where(I >= 1e-300, 1, I), t)) : 1",
        time="1",
    )
    spec = m.kernel_spec()
    jac = NumpyKernel(spec).jac(-2.0, np.array([[5.0, 1.5, -1.0]]), np.zeros((0, 3)))
    np.testing.assert_array_equal(np.asarray(jac).reshape(-1), [1.0, 0.0, -1.0])
    # and f itself: I = 3, 3.76 - 2, 3.76 + 1
    f = NumpyKernel(spec).f(-2.0, np.array([[5.0, 1.5, -1.0]]), np.zeros((0, 3)))
    np.testing.assert_allclose(
        np.asarray(f).reshape(-1), [3.0, np.cosh(2.0) - 2.0, np.cosh(2.0) + 1.0]
    )
