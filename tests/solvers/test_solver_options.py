"""SolverOptions: checks, replace, pickling, and simulate() honouring them.

Where the expected numbers come from: the decay model ``dv/dt = (El - v)/tau`` with
El = -65 mV, tau = 10 ms, v(0) = -50 mV.  Forward Euler with step h gives
``v_n = El + (v0 - El) (1 - h/tau)**n`` exactly (up to rounding; derived here), which at
h = 1 ms, n = 10 is ``-65 + 15 * 0.9**10``; rk4 at the same step is within 1e-5 mV of
the exact ``-65 + 15 exp(-1)``, so the two methods differ by ~0.3 mV.
"""

from __future__ import annotations

import math
import pickle

import pytest

import biosnn
from biosnn import SolverOptions
from biosnn.errors import BiosnnError, MethodError, SimulationError
from biosnn.solvers.options import DEFAULT_MAX_STEPS, merge


@pytest.fixture(scope="module")
def decay():
    return biosnn.Model(
        "dv/dt = (El - v)/tau : volt",
        params={"El": "-65 mV", "tau": "10 ms"},
        init={"v": "-50 mV"},
        name="decay_opts",
    )


# --------------------------------------------------------------------------------------
# the value
# --------------------------------------------------------------------------------------
def test_defaults_are_those_of_simulate():
    o = SolverOptions()
    assert (o.method, o.dt, o.rtol, o.atol, o.backend) == ("rk4", None, None, None, "auto")
    assert o.max_steps == DEFAULT_MAX_STEPS == 10_000_000 and o.seed is None
    assert not o.adaptive and SolverOptions(method="rodas4", rtol=1, atol=1).adaptive


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(method="rk5"), MethodError, r"^method: unknown method 'rk5'.*rodas4"),
        (dict(method=4), MethodError, r"^method: unknown method 4"),
        (dict(method="dop853"), MethodError, r"^rtol, atol: .*rtol=1e-6, atol=1e-9"),
        (dict(method="rk23", rtol=1e-6), MethodError, r"^rtol, atol: "),
        (dict(rtol=0), MethodError, r"^rtol must be a positive number, not 0"),
        (dict(atol=float("nan")), MethodError, r"^atol must be a positive number"),
        (dict(atol=True), MethodError, r"^atol must be a positive number"),
        (dict(rtol="tight"), MethodError, r"^rtol must be a positive number"),
        (dict(dt=0), SimulationError, r"^dt must be positive, got 0"),
        (dict(dt=-0.1), SimulationError, r"^dt must be positive"),
        (dict(dt=float("inf")), SimulationError, r"^dt must be positive"),
        (dict(dt=" "), SimulationError, r"^dt must be a number"),
        (dict(backend="gpu"), SimulationError, r"^backend must be 'auto', 'c' or 'numpy'"),
        (dict(max_steps=0), SimulationError, r"^max_steps must be a positive whole number"),
        (dict(max_steps=2.5), SimulationError, r"^max_steps must be"),
        (dict(max_steps=True), SimulationError, r"^max_steps must be"),
        (dict(seed=-1), SimulationError, r"^seed must be a whole number"),
        (dict(seed=1.5), SimulationError, r"^seed must be a whole number"),
    ],
)
def test_a_bad_field_is_one_error_that_names_it(kwargs, error, message):
    with pytest.raises(error, match=message):
        SolverOptions(**kwargs)


def test_values_are_normalised():
    o = SolverOptions(method="rk45", rtol=1, atol="1e-9", max_steps=1e6, seed=7)
    assert o.rtol == 1.0 and isinstance(o.rtol, float) and o.atol == 1e-9
    assert o.max_steps == 1_000_000 and isinstance(o.max_steps, int)
    assert SolverOptions(dt="0.05 ms").dt == "0.05 ms"  # converted by the entry point


def test_replace_checks_and_names_unknown_fields():
    o = SolverOptions(method="dop853", rtol=1e-6, atol=1e-8)
    assert o.replace(rtol=1e-9).rtol == 1e-9 and o.rtol == 1e-6  # a copy
    with pytest.raises(BiosnnError, match=r"SolverOptions has no field 'rtl'.*method, dt"):
        o.replace(rtl=1e-9)
    with pytest.raises(MethodError, match="rtol must be a positive number"):
        o.replace(rtol=-1)
    with pytest.raises(MethodError, match=r"^rtol, atol"):
        SolverOptions().replace(method="rk45")


def test_frozen_hashable_picklable():
    o = SolverOptions(method="stochastic_heun", dt=0.05, seed=3, backend="numpy")
    with pytest.raises(AttributeError):
        o.method = "euler"
    back = pickle.loads(pickle.dumps(o))
    assert back == o and hash(back) == hash(o) and back is not o
    assert len({o, back, o.replace(seed=4)}) == 2


def test_merge_keywords_win_and_none_means_not_given():
    base = SolverOptions(method="dop853", rtol=1e-6, atol=1e-8)
    assert merge(None, base, "x") is base
    assert merge(None, base, "x", rtol=None, dt=None) is base
    given = SolverOptions(method="euler", dt=0.1)
    assert merge(given, base, "x", dt=0.2) == SolverOptions(method="euler", dt=0.2)
    with pytest.raises(BiosnnError, match="x: options must be a SolverOptions, not dict"):
        merge({"method": "rk4"}, base, "x")


def test_simulate_kwargs_pass_tolerances_only_to_adaptive_methods():
    assert SolverOptions(rtol=1e-3).simulate_kwargs() == dict(method="rk4", backend="auto")
    kw = SolverOptions(method="rk45", rtol=1e-3, atol=1e-6, dt=0.5, seed=2, max_steps=9)
    assert kw.simulate_kwargs() == dict(
        method="rk45", backend="auto", rtol=1e-3, atol=1e-6, dt=0.5, max_steps=9, seed=2
    )


# --------------------------------------------------------------------------------------
# simulate() honours them
# --------------------------------------------------------------------------------------
def _v_end(res):
    return float(res["v"][0, -1])


def test_simulate_runs_the_options(decay):
    euler = SolverOptions(method="euler", dt=1.0, backend="numpy")
    res = biosnn.simulate(decay, 10, options=euler)
    assert res.stats["method"] == "euler" and res.stats["backend"] == "numpy"
    assert _v_end(res) == pytest.approx(-65 + 15 * 0.9**10, abs=1e-9)
    # the same run by keywords gives the same bits
    same = biosnn.simulate(decay, 10, method="euler", dt=1.0, backend="numpy")
    assert _v_end(same) == _v_end(res)
    rk4 = biosnn.simulate(decay, 10, options=euler.replace(method="rk4"))
    assert _v_end(rk4) == pytest.approx(-65 + 15 * math.exp(-1), abs=1e-5)
    assert abs(_v_end(rk4) - _v_end(res)) > 0.2


def test_keywords_win_over_options(decay):
    euler = SolverOptions(method="euler", dt=1.0, backend="numpy")
    res = biosnn.simulate(decay, 10, options=euler, method="rk4")
    assert res.stats["method"] == "rk4"
    assert _v_end(res) == pytest.approx(-65 + 15 * math.exp(-1), abs=1e-5)
    res = biosnn.simulate(decay, 10, options=euler, dt=0.5, record_dt=0.5)
    assert res.t[1] == 0.5 and _v_end(res) == pytest.approx(-65 + 15 * 0.95**20, abs=1e-9)


def test_simulate_without_options_is_unchanged(decay):
    # the default SolverOptions() is rk4 at dt = 0.01 ms (DEFAULT_DT)
    plain = biosnn.simulate(decay, 10, backend="numpy")
    given = biosnn.simulate(decay, 10, options=SolverOptions(backend="numpy"))
    explicit = biosnn.simulate(decay, 10, method="rk4", dt=0.01, backend="numpy")
    assert _v_end(plain) == _v_end(given) == _v_end(explicit)
    assert plain.stats["method"] == "rk4"


def test_adaptive_options_tolerances_and_max_steps_are_used(decay):
    loose = SolverOptions(method="rk45", rtol=1e-3, atol=1e-3, backend="numpy")
    a = biosnn.simulate(decay, 10, options=loose)
    b = biosnn.simulate(decay, 10, options=loose.replace(rtol=1e-10, atol=1e-10))
    assert a.stats["n_rhs"] < b.stats["n_rhs"]  # fewer right-hand-side evaluations
    exact = -65 + 15 * math.exp(-1)
    assert abs(_v_end(b) - exact) < 1e-7 < abs(_v_end(a) - exact)
    with pytest.raises(SimulationError):
        biosnn.simulate(decay, 10, options=loose.replace(rtol=1e-10, atol=1e-10, max_steps=3))


def test_seed_in_options_is_the_seed_of_the_noise():
    m = biosnn.Model(
        "dv/dt = -v/tau + sigma*xi/sqrt(tau) : 1", params={"tau": "10 ms", "sigma": 1.0}
    )
    o = SolverOptions(method="euler_maruyama", dt=0.1, backend="numpy", seed=11)
    a = biosnn.simulate(m, 5, options=o)
    b = biosnn.simulate(m, 5, method="euler_maruyama", dt=0.1, backend="numpy", seed=11)
    c = biosnn.simulate(m, 5, options=o, seed=12)
    assert a.stats["seed"] == 11 and c.stats["seed"] == 12
    assert _v_end(a) == _v_end(b) != _v_end(c)


def test_simulate_refuses_options_of_another_type(decay):
    with pytest.raises(BiosnnError, match="simulate: options must be a SolverOptions"):
        biosnn.simulate(decay, 10, options={"method": "euler"})
