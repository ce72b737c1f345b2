"""Population parameters that change with time (injected currents): functions of t,
Stimulus objects and (steps, n) tables, tabulated on the step grid.
"""

import numpy as np
import pytest

from biosnn import Model
from biosnn.codegen import c_build
from biosnn.errors import ModelError, SimulationError
from biosnn.network import Network, Population, StateMonitor
from biosnn.stimulus import Stimulus

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])

DT, TAU, EL, R = 0.1, 10.0, -65.0, 10.0  # ms, ms, mV, Mohm


def _lif():
    # passive membrane, tau dv/dt = El - v + R*I; I in nA, R*I in mV (10 Mohm * 1 nA)
    return Model(
        "dv/dt = (El - v + R*I)/tau : volt\nI : amp",
        params={"El": f"{EL} mV", "tau": f"{TAU} ms", "R": f"{R} Mohm", "I": "0 nA"},
    )


def _euler_step_response(amp, n_on, steps):
    """Closed form of forward Euler for tau dv/dt = El - v + R*I(t_n), v_0 = El, with
    I(t_n) = amp for n >= n_on (0 before): v_n = El + R*amp*(1 - (1 - dt/tau)**(n - n_on))
    for n >= n_on, El before (the step n uses the input at t_n, docs/network.md).
    """
    n = np.arange(steps + 1)
    k = np.maximum(n - n_on, 0)
    return EL + R * amp * (1.0 - (1.0 - DT / TAU) ** k)


def _run(params, n, backend, T=20.0):
    P = Population(_lif(), n, params=params, init={"v": EL}, method="euler")
    mon = StateMonitor(P, "v", list(range(n)))
    net = Network(P, mon, dt=DT, backend=backend)
    net.run(T)
    return mon.v


def test_step_current_euler_closed_form_both_engines_identical():
    # I(t) = 1 nA for t > 5 ms: t_50 = 5.0 exactly is not > 5, so the first driven step
    # is n = 51; the response is the closed form above within rounding (200 steps)
    v = {be: _run({"I": lambda t: 1.0 * (t > 5)}, 1, be) for be in BACKENDS}
    want = _euler_step_response(1.0, 51, 200)
    for be in BACKENDS:
        np.testing.assert_allclose(v[be][0], want, rtol=0, atol=1e-11)
    assert np.all(v[BACKENDS[0]][0, :52] == EL)  # nothing moves before the onset
    for be in BACKENDS[1:]:
        assert np.array_equal(v[be], v["numpy"])  # identical bits


def test_stimulus_and_table_match_the_function():
    # the same input as a Stimulus.step (on from 5.05 ms: steps t_n >= 5.05, n >= 51) and
    # as a (steps, 1) table give exactly the numbers of the function
    table = np.zeros((200, 1))
    table[51:] = 1.0
    for be in BACKENDS:
        f = _run({"I": lambda t: 1.0 * (t > 5)}, 1, be)
        s = _run({"I": Stimulus.step([0.0, 5.05], [0.0, 1.0])}, 1, be)
        a = _run({"I": table}, 1, be)
        assert np.array_equal(f, s) and np.array_equal(f, a)


def test_per_neuron_function_returns_n_values():
    # neuron i receives amp_i = i*0.5 nA from t > 5 ms: each follows its own closed form
    amps = np.array([0.0, 0.5, 1.0, 1.5])
    v = {be: _run({"I": lambda t: amps * (t > 5)}, 4, be) for be in BACKENDS}
    for i, amp in enumerate(amps):
        np.testing.assert_allclose(
            v["numpy"][i], _euler_step_response(amp, 51, 200), rtol=0, atol=1e-11
        )
    for be in BACKENDS[1:]:
        assert np.array_equal(v[be], v["numpy"])


def test_second_run_continues_on_the_table():
    # two runs of 10 ms read steps 0..99 and 100..199 of the function: same as one run
    P = Population(_lif(), 1, params={"I": lambda t: 1.0 * (t > 5)}, init={"v": EL}, method="euler")
    mon = StateMonitor(P, "v", [0])
    net = Network(P, mon, dt=DT, backend="numpy")
    net.run(10.0)
    net.run(10.0)
    np.testing.assert_allclose(
        mon.v[0][-1], _euler_step_response(1.0, 51, 200)[-1], rtol=0, atol=1e-11
    )


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ModelError, match=r"array of n = 3 values.*shape \(2,\)"):
        _run({"I": lambda t: np.zeros(2)}, 3, "numpy")
    with pytest.raises(ModelError, match=r"shape \(steps, 3\) or \(steps, 1\)"):
        Population(_lif(), 3, params={"I": np.zeros((10, 2))})
    with pytest.raises(SimulationError, match="has 10 steps"):
        _run({"I": np.zeros((10, 1))}, 1, "numpy", T=2.0)
    with pytest.raises(ModelError, match="'exact' needs constant parameters"):
        Population(_lif(), 1, params={"I": lambda t: 1.0}, method="exact")
