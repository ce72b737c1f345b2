"""Library synapses (models/synapses/): the post-synaptic current of one spike against its
analytic kernel, run through the network engine (exact integration, dt = 0.01 ms).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from biosnn import Model
from biosnn.errors import ModelError
from biosnn.network import AllToAll, Network, Population, SpikeGenerator, StateMonitor, Synapses
from biosnn.network.synapse_models import list_synapses, on_pre, with_synapses

DT = 0.01
T_SPIKE = 1.0


def response(kind, states, w, voltage_clamp=False, method="exact"):
    """Record ``states`` after one spike at 1 ms; neuron: a slow passive membrane."""
    neuron = Model(
        "dv/dt = (El - v + R*I_syn)/tau_m : volt",
        params={
            "El": "-70 mV",
            "R": "100 Mohm",
            "tau_m": "1e9 ms" if voltage_clamp else "10 ms",
            "I_syn": "0 pA",
        },
    )
    model = with_synapses(neuron, {"I_syn": kind})
    P = Population(model, 1, name="p", method=method, init={"v": "-70 mV"})
    gen = SpikeGenerator(1, [0], [T_SPIKE], name="g")
    syn = Synapses(gen, P, on_pre=on_pre(kind, "I_syn"), params={"w": w}, connect=AllToAll())
    mon = StateMonitor(P, states, [0])
    net = Network(P, gen, syn, mon, dt=DT, seed=1, backend="auto")
    net.run(40.0)
    # the jump happens in the step ending at T_SPIKE; s = time since the spike
    return mon.t - T_SPIKE, {s: mon[s][0] for s in states}


def test_library_lists_linear_synapses():
    assert {"exp_current", "alpha_current", "biexp_current", "exp_conductance"} <= set(
        dict(list_synapses())
    )


def test_exponential_current_kernel():
    s, r = response("exp_current", ["I_syn"], "10 pA")
    after = s >= 0
    # I(s) = w exp(-s/tau), tau = 5 ms
    assert np.allclose(r["I_syn"][after], 10 * np.exp(-s[after] / 5.0), atol=1e-9)
    assert np.all(r["I_syn"][~after] == 0)


def test_alpha_current_kernel_peaks_at_tau_with_height_w():
    s, r = response("alpha_current", ["I_syn", "x_I_syn"], "10 pA")
    after = s >= 0
    # I(s) = w (s/tau) exp(1 - s/tau), tau = 2 ms: peak w at s = tau
    expected = 10 * (s[after] / 2.0) * np.exp(1 - s[after] / 2.0)
    assert np.allclose(r["I_syn"][after], expected, atol=1e-8)
    assert s[after][np.argmax(r["I_syn"][after])] == pytest.approx(2.0, abs=DT)


def test_biexponential_kernel_peak_time():
    s, r = response("biexp_current", ["a_I_syn", "b_I_syn"], "10 pA")
    after = s >= 0
    current = (r["a_I_syn"] - r["b_I_syn"])[after]
    tau1, tau2 = 5.0, 1.0
    assert np.allclose(
        current, 10 * (np.exp(-s[after] / tau1) - np.exp(-s[after] / tau2)), atol=1e-9
    )
    t_peak = tau1 * tau2 / (tau1 - tau2) * math.log(tau1 / tau2)  # 2.0118 ms
    assert s[after][np.argmax(current)] == pytest.approx(t_peak, abs=DT)


def test_conductance_kernel_and_driving_force():
    # g*(E - v) is not linear with constant coefficients: rk4 (error ~ (dt/tau)**4)
    s, r = response("exp_conductance", ["g_I_syn", "v"], "1 nS", method="rk4")
    after = s >= 0
    assert np.allclose(r["g_I_syn"][after], np.exp(-s[after] / 5.0), atol=1e-8)
    # the current g*(E - v) depolarises from -70 mV towards E = 0 mV; for a small
    # conductance the PSP is the current kernel filtered by the membrane:
    # R*g0*(E - El) * tau_s/(tau_s - tau_m) * (exp(-s/tau_s) - exp(-s/tau_m)) (first order)
    v = r["v"][after] + 70.0
    psp = (
        0.1 * 1.0 * 70.0 * 5.0 / (5.0 - 10.0) * (np.exp(-s[after] / 5.0) - np.exp(-s[after] / 10.0))
    )
    assert np.max(np.abs(v - psp)) < 0.05 * psp.max()


def test_errors():
    neuron = Model("dv/dt = -v/tau : volt", params={"tau": "10 ms"})
    with pytest.raises(ModelError, match="no parameter 'I_syn'"):
        with_synapses(neuron, {"I_syn": "exp_current"})
    with pytest.raises(ModelError, match="no synapse model 'nope'"):
        on_pre("nope", "I")


# -- kinetic synapses (per-synapse clock-driven states, summed current) -----------------------


def kinetic_current(kind, voltages, duration=40.0, dt=DT):
    """The summed current (pA) of one synapse of ``kind`` (w = 1 nS) onto neurons clamped
    at ``voltages`` (mV) after one presynaptic spike at 1 ms: the neuron integrates
    dq/dt = I_syn with Euler, so (q[k+1] - q[k])/dt is the current of step k, computed
    from the synapse state at t_k.  Returns (t_k, I (n_v, T)).
    """
    from biosnn.network.synapse_models import kinetic_synapses

    clamp = Model("dq/dt = I_syn : coulomb", params={"I_syn": "0 pA", "v": "-65 mV"}, name="clamp")
    P = Population(clamp, len(voltages), method="euler", params={"v": np.asarray(voltages, float)})
    gen = SpikeGenerator(1, [0], [T_SPIKE], name="g")
    syn = kinetic_synapses(kind, gen, P, "I_syn", connect=AllToAll(), w="1 nS")
    mon = StateMonitor(P, ["q"], np.arange(len(voltages)))
    net = Network(P, gen, syn, mon, dt=dt, seed=1, backend="auto")
    net.run(duration)
    return mon.t[:-1], np.diff(mon["q"], axis=1) / dt


def two_state(t, alpha, beta, tmax=1.0, cdur=1.0, t0=T_SPIKE):
    """Open fraction of C + T <-> O after a square pulse T = tmax on [t0, t0 + cdur)
    (Destexhe et al. 1994): r_inf (1 - e^{-(t - t0)/tau_r}) during it, tau_r =
    1/(alpha tmax + beta), r_inf = alpha tmax tau_r; then r(t0 + cdur) e^{-beta (t - t0 - cdur)}.
    """
    tau_r = 1.0 / (alpha * tmax + beta)
    r_inf = alpha * tmax * tau_r
    on = r_inf * (1 - np.exp(-np.clip(t - t0, 0, cdur) / tau_r))
    return np.where(t < t0, 0.0, on * np.exp(-beta * np.clip(t - t0 - cdur, 0, None)))


@pytest.mark.parametrize(
    "kind, alpha, beta, e_rev",
    [
        ("ampa", 1.1, 0.19, 0.0),  # Destexhe et al. 1998: 1.1e6 /M/s, 190 /s, 0 mV
        ("gaba_a", 5.0, 0.18, -80.0),  # 5e6 /M/s, 180 /s, -80 mV
    ],
)
def test_two_state_kinetic_conductance_matches_analytic(kind, alpha, beta, e_rev):
    t, current = kinetic_current(kind, [-40.0])
    g = current[0] / (e_rev - (-40.0))  # nS, w = 1 nS -> g = r
    # exponential Euler is exact here: the pulse is constant over each step
    assert np.allclose(g, two_state(t, alpha, beta), rtol=1e-9, atol=1e-12)
    assert g.max() == pytest.approx(two_state(np.array([2.0]), alpha, beta)[0], rel=1e-9)


def test_nmda_time_course_and_magnesium_block():
    v = np.array([-100.0, -80.0, -60.0, -40.0, -20.0, 20.0])
    t, current = kinetic_current("nmda", v, duration=100.0)
    r = two_state(t, 0.072, 0.0066)  # 7.2e4 /M/s, 6.6 /s
    block = 1.0 / (1.0 + 1.0 / 3.57 * np.exp(-0.062 * v))  # Jahr & Stevens 1990, 1 mM Mg
    expected = r[None, :] * block[:, None] * (0.0 - v)[:, None]
    assert np.allclose(current, expected, rtol=1e-9, atol=1e-12)
    # the block: 1/(1 + [Mg]/3.57 mM exp(-0.062 V/mV)) read back from the current
    late = t > 10.0
    measured = current[:, late] / (r[late] * (0.0 - v)[:, None])
    assert np.allclose(measured, block[:, None], rtol=1e-9)
    assert block[0] < 0.01 and block[-1] > 0.8  # blocked at rest, open when depolarised


def test_gaba_b_matches_direct_simulation_of_its_odes():
    from biosnn import simulate

    t, current = kinetic_current("gaba_b", [-60.0], duration=400.0, dt=0.05)
    G = current[0] / (-95.0 - (-60.0))  # nS, fraction of open K+ channels
    # the same scheme with the spike at t = 0: K1..K4, Kd, pulse 0.5 mM for 0.3 ms
    ref_model = Model(
        """
        dr/dt = K1*Tmax*where(t < Cdur, 1, 0)*(1 - r) - K2*r : 1
        ds/dt = K3*r - K4*s : 1
        """,
        params={
            "K1": "0.09 /mM/ms",
            "K2": "0.0012 /ms",
            "K3": "0.18 /ms",
            "K4": "0.034 /ms",
            "Tmax": "0.5 mM",
            "Cdur": "0.3 ms",
        },
        init={"r": 0, "s": 0},
        name="gaba_b_ref",
    )
    ref = simulate(ref_model, 400.0, method="rk4", dt=0.001, record_dt=0.05)
    s_ref = np.interp(t - T_SPIKE, ref.t, ref["s"][0], left=0.0)
    G_ref = s_ref**4 / (s_ref**4 + 100.0)
    peak = np.argmax(G_ref)
    # exponential Euler per variable is first order in dt for the coupled s equation
    assert np.argmax(G) == pytest.approx(peak, abs=2)
    assert G.max() == pytest.approx(G_ref.max(), rel=0.02)
    assert np.allclose(G, G_ref, atol=0.02 * G_ref.max())
    assert 50.0 < t[peak] - T_SPIKE < 250.0  # slow: peak ~100 ms after the spike


def test_kinetic_synapse_is_not_merged_into_a_neuron():
    neuron = Model(
        "dv/dt = (-v + R*I_syn)/tau_m : volt",
        params={"tau_m": "10 ms", "R": "100 Mohm", "I_syn": "0 pA"},
    )
    with pytest.raises(ModelError, match="kinetic"):
        with_synapses(neuron, {"I_syn": "ampa"})
    assert {"ampa", "gaba_a", "nmda", "gaba_b"} <= set(dict(list_synapses()))
