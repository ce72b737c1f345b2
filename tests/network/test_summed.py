"""Summed variables (gap junctions) and clock-driven synapse equations (kinetic synapses)."""

import numpy as np
import pytest

import biosnn
from biosnn import Model
from biosnn.codegen import c_build
from biosnn.errors import ModelError
from biosnn.network import (
    FromArrays,
    Network,
    OneToOne,
    Population,
    SpikeGenerator,
    StateMonitor,
    Synapses,
)

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])
CELL = Model(
    """dv/dt = (El - v + R*(I0 + I_gap))/tau : volt
I_gap : amp""",
    params={"El": "-65 mV", "R": "100 Mohm", "tau": "10 ms", "I0": "0 nA", "I_gap": "0 nA"},
    name="gapcell",
)
GAP = """g : siemens
I_gap_post = g*(v_pre - v_post) : amp (summed)"""


def _gap_pair(backend, method="euler"):
    P = Population(
        CELL,
        2,
        method=method,
        params={"I0": np.array([0.2, 0.0])},
        init={"v": np.array([-65.0, -70.0])},
    )
    G = Synapses(P, P, model=GAP, params={"g": "2 nS"}, connect=FromArrays([0, 1], [1, 0]))
    mon = StateMonitor(P, "v", [0, 1])
    net = Network(P, G, mon, dt=0.05, seed=0, backend=backend)
    net.run(60.0)
    return mon


@pytest.mark.parametrize("backend", BACKENDS)
def test_gap_junction_equals_the_coupled_model(backend):
    # the same two cells written as one model with the coupling current spelled out,
    # simulated by biosnn.simulate with the same fixed-step method (forward Euler: the
    # summed current is evaluated at the start of each step, as Euler evaluates the drift)
    mon = _gap_pair(backend)
    two = Model(
        """dv1/dt = (El - v1 + R*(I1 + g*(v2 - v1)))/tau : volt
    dv2/dt = (El - v2 + R*(g*(v1 - v2)))/tau : volt""",
        params={"El": "-65 mV", "R": "100 Mohm", "tau": "10 ms", "I1": "0.2 nA", "g": "2 nS"},
        init={"v1": "-65 mV", "v2": "-70 mV"},
    )
    ref = biosnn.simulate(two, 60.0, method="euler", dt=0.05, record_dt=0.05, backend="numpy")
    assert np.allclose(mon["v"][0], np.ravel(ref["v1"]), rtol=1e-13, atol=1e-12)
    assert np.allclose(mon["v"][1], np.ravel(ref["v2"]), rtol=1e-13, atol=1e-12)
    # the coupling matters: cell 2 is pulled well above its rest (-65 mV) by cell 1
    assert mon["v"][1, -1] > -63.0


def test_gap_junction_numpy_and_c_identical():
    if "c" not in BACKENDS:
        pytest.skip("needs a C compiler")
    for method in ("euler", "rk4"):
        a, b = _gap_pair("numpy", method), _gap_pair("c", method)
        assert np.array_equal(a["v"], b["v"])


def test_summed_targets_from_two_groups_add_up():
    # two groups write I_gap of the same neuron: the targets are zeroed once, then every
    # group adds its terms (Brian2 refuses this; summing is what gap junctions need)
    for backend in BACKENDS:
        P = Population(CELL, 3, method="euler", init={"v": np.array([-60.0, -70.0, -80.0])})
        G1 = Synapses(P[:1], P[1:2], model=GAP, params={"g": "1 nS"}, connect=OneToOne())
        G2 = Synapses(P[2:], P[1:2], model=GAP, params={"g": "1 nS"}, connect=OneToOne())
        net = Network(P, G1, G2, dt=0.1, seed=0, backend=backend)
        net.run(0.1)
        k = net.pop_meta[0]["array_params"].index("I_gap")
        # 1 nS*(-60 - -70) mV + 1 nS*(-80 - -70) mV = 0 pA at neuron 1; 0 elsewhere
        assert np.array_equal(net.arrays["PA0"][k], [0.0, 0.0, 0.0])
        net.arrays["Y0"][0, :] = [-50.0, -70.0, -80.0]
        net.run(0.1)
        assert net.arrays["PA0"][k, 1] == pytest.approx(10.0)  # pA


# Destexhe, Mainen & Sejnowski (1994) Neural Comput 6:14-18, two-state AMPA kinetics:
# dr/dt = alpha*[T]*(1 - r) - beta*r with a 1 ms pulse [T] = 1 mM after each spike,
# alpha = 1.1 /(mM ms), beta = 0.19 /ms.  With [T] constant over each step the
# exponential-Euler step is exact, so r follows the analytic solution.
AMPA = """lastspike : second
dr/dt = alpha*where(t - lastspike < dur, Tmax, 0*mM)*(1 - r) - beta*r : 1 (clock-driven)
g_syn_post = gmax*r : siemens (summed)"""
AMPA_PARAMS = {
    "alpha": "1.1 /mM/ms",
    "beta": "0.19 /ms",
    "Tmax": "1 mM",
    "dur": "1 ms",
    "gmax": "1 nS",
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_kinetic_ampa_synapse_follows_the_analytic_solution(backend):
    cell = Model(
        """dq/dt = g_syn/(1*nS*ms) : 1
    g_syn : siemens""",
        params={"g_syn": "0 nS"},
        name="integrator",
    )
    dt = 0.125  # binary: the pulse is exactly 8 steps
    gen = SpikeGenerator(1, [0], [2.0])
    P = Population(cell, 1, method="euler")
    S = Synapses(
        gen,
        P,
        model=AMPA,
        on_pre="lastspike = t",
        params=AMPA_PARAMS,
        init={"lastspike": "-1 s", "r": 0},
        connect=OneToOne(),
    )
    mon = StateMonitor(P, "q", [0])
    net = Network(gen, P, S, mon, dt=dt, seed=0, backend=backend)
    net.run(3.0)
    k, r_inf = 1.1 + 0.19, 1.1 / (1.1 + 0.19)
    r_end = r_inf * (1 - np.exp(-k * 1.0))  # end of the pulse, t = 3 ms
    assert S.state.r[0] == pytest.approx(r_end, rel=1e-13)
    net.run(7.0)
    assert S.state.r[0] == pytest.approx(r_end * np.exp(-0.19 * 7.0), rel=1e-13)
    # the summed conductance drives q: q(t_n) = sum over earlier steps of gmax*r(t_m)*dt
    t = np.arange(80) * dt
    r = np.where(
        t <= 2.0,
        0.0,
        np.where(t <= 3.0, r_inf * (1 - np.exp(-k * (t - 2.0))), r_end * np.exp(-0.19 * (t - 3.0))),
    )
    assert np.allclose(mon["q"][0, 1:], np.cumsum(r) * dt, rtol=1e-12, atol=1e-15)


def test_kinetic_synapse_numpy_and_c_identical():
    if "c" not in BACKENDS:
        pytest.skip("needs a C compiler")
    out = []
    for backend in ("numpy", "c"):
        cell = Model(
            """dv/dt = (-65*mV - v - g_syn*(v - 0*mV)/(10*nS))/(10*ms) : volt
        g_syn : siemens""",
            params={"g_syn": "0 nS"},
            name="cond",
        )
        gen = SpikeGenerator(4, [0, 1, 2, 3, 0], [1.0, 1.3, 2.0, 2.2, 4.0])
        P = Population(cell, 3, method="rk4", init={"v": -65.0})
        S = Synapses(
            gen,
            P,
            model=AMPA,
            on_pre="lastspike = t",
            params=AMPA_PARAMS,
            init={"lastspike": "-1 s", "r": 0},
            connect=FromArrays([0, 1, 2, 3, 0], [0, 0, 1, 2, 2]),
        )
        mon = StateMonitor(P, "v", [0, 1, 2])
        net = Network(gen, P, S, mon, dt=0.1, seed=0, backend=backend)
        net.run(10.0)
        out.append((mon["v"], S.state.r))
    assert np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1])
    assert out[0][0].max() > -63.0  # the synapses depolarise (by about 3 mV)


def test_summed_and_clock_driven_errors():
    P = Population(CELL, 2, method="euler")
    with pytest.raises(ModelError, match="must be a parameter of the postsynaptic model"):
        Synapses(P, P, model="I_syn_post = 1*pA : amp (summed)", connect=OneToOne())
    with pytest.raises(ModelError, match="suffix _post"):
        Synapses(P, P, model="I_gap = 1*pA : amp (summed)", connect=OneToOne())
    E = Population(CELL, 2, method="exact")
    G = Synapses(E, E, model=GAP, params={"g": "1 nS"}, connect=OneToOne())
    with pytest.raises(ModelError, match="method 'exact' needs constant parameters"):
        Network(E, G)
    Q = Population(CELL, 2, method="euler")
    bad = Synapses(
        Q,
        Q,
        model="dx/dt = -x**2/(10*ms) : 1 (clock-driven)",
        method="exponential_euler",
        on_pre="x += 1",
        connect=OneToOne(),
    )
    with pytest.raises(ModelError, match="linear in its own variable"):
        Network(Q, bad, backend="numpy").run(0.1)
    with pytest.raises(ModelError, match="unknown method 'rk9' for synapses"):
        Synapses(
            Q, Q, model="dx/dt = -x/(10*ms) : 1 (clock-driven)", method="rk9", connect=OneToOne()
        )
