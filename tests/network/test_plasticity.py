"""on_post statements and event-driven synaptic variables: pair-based STDP.

The rule is Brian2's STDP example (Song, Miller & Abbott 2000, Nat Neurosci 3:919):
traces ``apre``/``apost`` decay with tau+ = tau- = 20 ms between events and are advanced
exactly to each event; a pre spike adds A+ to apre and apost to w, a post spike adds A-
to apost and apre to w, w clipped to [0, wmax].  For one isolated pair with lag
dt_pp = t_post - t_pre the weight changes by A+ exp(-dt_pp/tau+) (dt_pp > 0) or
A- exp(dt_pp/tau-) (dt_pp < 0, A- < 0): the analytic window of the paper.
"""

import numpy as np
import pytest

from biosnn import Model
from biosnn.codegen import c_build
from biosnn.errors import ModelError
from biosnn.network import (
    FromArrays,
    Network,
    OneToOne,
    Population,
    SpikeGenerator,
    SpikeMonitor,
    Synapses,
)

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])
A_PLUS, A_MINUS, TAU, W0 = 0.01, -0.0105, 20.0, 0.5
STDP = """w : 1
dapre/dt = -apre/taupre : 1 (event-driven)
dapost/dt = -apost/taupost : 1 (event-driven)"""
ON_PRE = "apre += Apre; w = clip(w + apost, 0, wmax)"
ON_POST = "apost += Apost; w = clip(w + apre, 0, wmax)"
PARAMS = {"taupre": "20 ms", "taupost": "20 ms", "Apre": A_PLUS, "Apost": A_MINUS, "wmax": 1.0}
# a neuron that fires in the step after it receives a 2 mV kick
KICKED = Model("dv/dt = 0*mV/ms : volt", threshold="v > 1*mV", reset="v = 0*mV", name="kicked")


def _pairs(backend, lags_steps, dt=0.1):
    """One synapse per pair: pre spike at 50 ms, post spike lags_steps*dt later."""
    n = len(lags_steps)
    t_pre = np.full(n, 50.0)
    pre = SpikeGenerator(n, np.arange(n), t_pre)
    # the kick arrives one step before the post spike (threshold after the update)
    drive = SpikeGenerator(n, np.arange(n), t_pre + (np.asarray(lags_steps) - 1) * dt)
    post = Population(KICKED, n, method="euler")
    kick = Synapses(drive, post, on_pre="v += 2*mV", connect=OneToOne())
    S = Synapses(
        pre,
        post,
        model=STDP,
        on_pre=ON_PRE,
        on_post=ON_POST,
        params=PARAMS,
        init={"w": W0},
        connect=OneToOne(),
    )
    m_pre, m_post = SpikeMonitor(pre), SpikeMonitor(post)
    net = Network(pre, drive, post, kick, S, m_pre, m_post, dt=dt, seed=0, backend=backend)
    net.run(150.0)
    t1 = np.full(n, np.nan)
    t2 = np.full(n, np.nan)
    t1[m_pre.i], t2[m_post.i] = m_pre.t, m_post.t
    return t2 - t1, S.state.w - W0, S


@pytest.mark.parametrize("backend", BACKENDS)
def test_stdp_window_matches_the_analytic_window(backend):
    lags = np.r_[np.arange(-400, 0, 7), np.arange(1, 401, 7)]  # -40 .. +40 ms
    lag_ms, dw, _ = _pairs(backend, lags)
    assert np.allclose(lag_ms, lags * 0.1, atol=1e-9)  # the pairs are as designed
    window = np.where(lag_ms > 0, A_PLUS * np.exp(-lag_ms / TAU), A_MINUS * np.exp(lag_ms / TAU))
    assert np.allclose(dw, window, rtol=1e-12, atol=1e-16)
    assert dw[lag_ms > 0].min() > 0 > dw[lag_ms < 0].max()


def test_stdp_numpy_and_c_identical():
    if "c" not in BACKENDS:
        pytest.skip("needs a C compiler")
    lags = np.arange(-50, 51, 3)
    a = _pairs("numpy", lags)[1]
    b = _pairs("c", lags)[1]
    assert np.array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_on_pre_runs_before_on_post_in_a_step(backend):
    # pre and post spike in the same step: on_pre first (apre = A+, w += apost = 0), then
    # on_post (w += apre = A+): dw = A+ (Brian2's order), not A- (the other order)
    lag_ms, dw, _ = _pairs(backend, [0])
    assert lag_ms[0] == 0.0 and dw[0] == pytest.approx(A_PLUS, rel=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weight_is_clipped(backend):
    # 30 pre-before-post pairs 1 ms apart, each adds 0.01*exp(-1/20): w would pass wmax
    n_pairs = 30
    times = 5.0 + 10.0 * np.arange(n_pairs)
    pre = SpikeGenerator(1, np.zeros(n_pairs, int), times)
    drive = SpikeGenerator(1, np.zeros(n_pairs, int), times + 0.9)
    post = Population(KICKED, 1, method="euler")
    kick = Synapses(drive, post, on_pre="v += 2*mV", connect=OneToOne())
    S = Synapses(
        pre,
        post,
        model=STDP,
        on_pre=ON_PRE,
        on_post=ON_POST,
        params={**PARAMS, "wmax": 0.6},
        init={"w": W0},
        connect=OneToOne(),
    )
    net = Network(pre, drive, post, kick, S, dt=0.1, seed=0, backend=backend)
    net.run(320.0)
    assert S.state.w[0] == 0.6


@pytest.mark.parametrize("backend", BACKENDS)
def test_on_post_updates_every_synapse_onto_the_spiking_neuron(backend):
    # 3 synapses onto neuron 0, 2 onto neuron 1; only neuron 0 spikes (at 2 ms)
    pre = SpikeGenerator(3, [], [])
    drive = SpikeGenerator(2, [0], [1.9])
    post = Population(KICKED, 2, method="euler")
    kick = Synapses(drive, post, on_pre="v += 2*mV", connect=OneToOne())
    S = Synapses(
        pre,
        post,
        model="c : 1",
        on_post="c += 1",
        connect=FromArrays([0, 1, 2, 0, 2], [0, 0, 0, 1, 1]),
    )
    net = Network(pre, drive, post, kick, S, dt=0.1, seed=0, backend=backend)
    net.run(5.0)
    assert dict(
        zip(
            zip(S.state.pre.tolist(), S.state.post.tolist(), strict=True),
            S.state.c.tolist(),
            strict=True,
        )
    ) == {
        (0, 0): 1.0,
        (1, 0): 1.0,
        (2, 0): 1.0,
        (0, 1): 0.0,
        (2, 1): 0.0,
    }


def test_event_driven_errors():
    pre = SpikeGenerator(1, [0], [1.0])
    post = Population(KICKED, 1, method="euler")
    nonlinear = Synapses(
        pre,
        post,
        model="dx/dt = -x**2/(10*ms) : 1 (event-driven)",
        on_pre="x += 1",
        connect=OneToOne(),
    )
    with pytest.raises(ModelError, match="event-driven equations must be linear"):
        Network(pre, post, nonlinear, backend="numpy").run(1.0)
    reads_post = Synapses(
        pre,
        post,
        model="dx/dt = -x/(10*ms) + v_post/(mV*ms) : 1 (event-driven)",
        on_pre="x += 1",
        connect=OneToOne(),
    )
    with pytest.raises(ModelError, match="event-driven equations cannot use v_post"):
        Network(pre, post, reads_post, backend="numpy").run(1.0)
    with pytest.raises(ModelError, match="needs the flag"):
        Synapses(pre, post, model="dx/dt = -x/(10*ms) : 1", on_pre="x += 1", connect=OneToOne())


@pytest.mark.parametrize("backend", BACKENDS)
def test_event_driven_with_a_constant_term_short_term_depression(backend):
    # Tsodyks-Markram depression: dx/dt = (1 - x)/tau_d, x -> x/2 at each spike (u = 0.5).
    # Spikes at 1 ms and 1 + D ms: after the second, x = (1 - 0.5 exp(-D/tau_d))/2
    D, tau = 37.0, 100.0
    pre = SpikeGenerator(1, [0, 0], [1.0, 1.0 + D])
    post = Population(KICKED, 1, method="euler")
    S = Synapses(
        pre,
        post,
        model="dx/dt = (1 - x)/taud : 1 (event-driven)",
        on_pre="x -= 0.5*x",
        params={"taud": "100 ms"},
        init={"x": 1.0},
        connect=OneToOne(),
    )
    net = Network(pre, post, S, dt=0.1, seed=0, backend=backend)
    net.run(60.0)
    assert S.state.x[0] == pytest.approx(0.5 * (1 - 0.5 * np.exp(-D / tau)), rel=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_event_driven_coupled_linear_system(backend):
    # dx/dt = -x/tau1, dy/dt = (x - y)/tau2 (not diagonal: solved by the matrix
    # exponential).  After x = 1, y = 0 at t0: y(t0 + D) = tau1/(tau1 - tau2) *
    # (exp(-D/tau1) - exp(-D/tau2)), read by the statement of the second spike
    D, tau1, tau2 = 7.0, 10.0, 3.0
    pre = SpikeGenerator(1, [0, 0], [1.0, 1.0 + D])
    post = Population(KICKED, 1, method="euler")
    S = Synapses(
        pre,
        post,
        model="""yrec : 1
    dx/dt = -x/tau1 : 1 (event-driven)
    dy/dt = (x - y)/tau2 : 1 (event-driven)""",
        on_pre="yrec = y; x += 1",
        params={"tau1": "10 ms", "tau2": "3 ms"},
        init={"x": 0.0, "y": 0.0},
        connect=OneToOne(),
    )
    net = Network(pre, post, S, dt=0.1, seed=0, backend=backend)
    net.run(10.0)
    expected = tau1 / (tau1 - tau2) * (np.exp(-D / tau1) - np.exp(-D / tau2))
    assert S.state.yrec[0] == pytest.approx(expected, rel=1e-12)
