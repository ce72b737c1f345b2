"""Network architectures as runnable examples (docs/network_examples.md).

* feed-forward layers: a volley propagates layer by layer with the latency the step
  schedule of docs/network.md predicts (delay + one step), and dies when sub-threshold;
* synfire chain (Diesmann, Gewaltig & Aertsen 1999, fig. 3): a strong synchronous pulse
  packet propagates through all 10 pools, a weak one dies out;
* reservoir (liquid state machine, Maass, Natschlaeger & Markram 2002): two noisy Poisson
  patterns are told apart by a ridge-regression readout of the filtered spike counts;
* Brunel (2000) model A (models/networks/brunel.toml): the synchronous regular and the
  asynchronous irregular states of his fig. 8, told apart by CV and chi.

C backend (falls back to NumPy without a compiler); each test runs in a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from biosnn import Model
from biosnn.network import (
    Blocks,
    FixedInDegree,
    FixedProbability,
    Network,
    Population,
    SpikeGenerator,
    SpikeMonitor,
    Synapses,
    Uniform,
)
from biosnn.network.files import load_network

DT = 0.1


# -- feed-forward layers ----------------------------------------------------------------------


def layered(weight, n_layers=6, n=100, k=20, delay=2.0, seed=1):
    """Layers of n LIF neurons; each neuron gets k inputs from the previous layer, each
    a jump ``v += weight``; layer 0 gets one input spike per neuron at t = 10 ms.
    """
    lif = Model(
        "dv/dt = (El - v)/tau : volt (unless refractory)",
        params={"El": "-70 mV", "tau": "10 ms", "Vt": "-55 mV", "Vr": "-70 mV"},
        threshold="v > Vt",
        reset="v = Vr",
        refractory="5 ms",
        name="ff_lif",
    )
    P = Population(lif, n_layers * n, name="layers", method="exact", init={"v": "-70 mV"})
    gen = SpikeGenerator(n, np.arange(n), np.full(n, 10.0), name="volley")
    inp = Synapses(gen, P[0:n], on_pre="v += w", params={"w": "20 mV"}, connect=Blocks(1))
    ff = [
        Synapses(
            P[layer * n : (layer + 1) * n],
            P[(layer + 1) * n : (layer + 2) * n],
            on_pre="v += w",
            params={"w": weight},
            connect=FixedInDegree(k),
            delay=delay,
        )
        for layer in range(n_layers - 1)
    ]
    mon = SpikeMonitor(P)
    net = Network(P, gen, inp, *ff, mon, seed=seed, backend="auto")
    net.run(60.0)
    return [mon.t[mon.i // n == layer] for layer in range(n_layers)]


def test_feedforward_latency_is_delay_plus_one_step():
    # k = 20 inputs of 1 mV arrive together: a 20 mV jump > the 15 mV from rest to
    # threshold, so every neuron of every layer fires once.  Schedule (docs/network.md):
    # a spike at the end of step s is delivered in step s + d (after the thresholds of that
    # step), so the target crosses at the end of step s + d + 1: latency = delay + dt.
    layers = layered("1 mV")
    for k, t in enumerate(layers):
        assert t.size == 100
        assert np.allclose(t, 10.0 + DT + k * (2.0 + DT))


def test_feedforward_subthreshold_volley_dies():
    # 20 x 0.7 mV = 14 mV < 15 mV: the first layer fires (driven by the 20 mV input),
    # the second never reaches threshold (the jump decays with tau = 10 ms)
    layers = layered("0.7 mV")
    assert layers[0].size == 100
    assert all(t.size == 0 for t in layers[1:])


# -- synfire chain ---------------------------------------------------------------------------


def packets(a, sigma, seed=1):
    net = load_network(
        "synfire",
        seed=seed,
        backend="auto",
        changes={"sources.stim.a": a, "sources.stim.sigma": sigma},
    )
    net.run(net.info.duration)
    mon = net.info.spike_monitors["exc"]
    out = []
    for k in range(10):
        t = mon.t[(mon.i // 100 == k) & (mon.t > 50.0 - 3 * sigma)]
        if t.size == 0:
            out.append((0, np.nan, np.nan))
            continue
        # the packet: the most populated 5 ms window
        counts = [np.sum((t >= s) & (t < s + 5.0)) for s in t]
        s = t[int(np.argmax(counts))]
        inside = t[(t >= s) & (t < s + 5.0)]
        out.append((inside.size, float(np.mean(inside)), float(np.std(inside))))
    return out


def test_synfire_strong_synchronous_packet_propagates():
    # Diesmann et al. 1999 fig. 3: (a, sigma) = (100, 1 ms) lies in the basin of the
    # stable attractor (a ~ 100 spikes, sigma < 1 ms): every pool answers with almost all
    # of its 100 neurons in a tight packet, one pool after the other
    res = packets(100, 1.0)
    counts = [c for c, _, _ in res]
    means = [m for _, m, _ in res]
    spreads = [s for _, _, s in res]
    assert min(counts) >= 85
    assert max(spreads[3:]) < 1.0  # the packet sharpens (attractor sigma < 1 ms)
    steps = np.diff(means)
    assert np.all(steps > 0.2) and np.all(steps < 2.0)  # ~0.5 ms per pool (EPSP rise)


@pytest.mark.parametrize("a, sigma", [(30, 1.0), (45, 3.0)])
def test_synfire_weak_packet_dies_out(a, sigma):
    # fig. 3: packets with few spikes (a = 30) or few and dispersed (45, 3 ms) fall into
    # the basin of the silent state: after a few pools only background remains
    # (100 neurons x ~4 Hz x 5 ms = 2 spikes per 5 ms window)
    res = packets(a, sigma)
    assert max(c for c, _, _ in res[5:]) < 15


# -- reservoir -------------------------------------------------------------------------------


def reservoir_features(seed=1, n_trials=200, n_in=40, n=400, jitter=3.0):
    """Trial k shows one of two frozen Poisson patterns (40 channels, 1 spike per channel
    on average in 50 ms) from 100k + 10 ms, each spike deleted with probability 0.2 and
    jittered by N(0, 3 ms).  Features: each neuron's spikes in the 50 ms before the end
    of the pattern, filtered by exp(-t/20 ms).
    """
    rng = np.random.default_rng(seed)
    patterns = [
        [np.sort(rng.uniform(0, 50, rng.poisson(1.0))) for _ in range(n_in)] for _ in range(2)
    ]
    labels = rng.integers(0, 2, n_trials)
    idx, times = [], []
    for k, label in enumerate(labels):
        for c, train in enumerate(patterns[label]):
            keep = rng.random(train.size) > 0.2
            t = np.clip(train[keep] + rng.normal(0, jitter, keep.sum()), 0, 50)
            idx += [c] * t.size
            times += list(100.0 * k + 10.0 + t)
    model = Model(
        """
        dv/dt = (El - v + ge + gi)/taum : volt (unless refractory)
        dge/dt = -ge/taue : volt
        dgi/dt = -gi/taui : volt
        """,
        params={
            "taum": "20 ms",
            "taue": "5 ms",
            "taui": "10 ms",
            "El": "-60 mV",
            "Vt": "-50 mV",
            "Vr": "-60 mV",
        },
        threshold="v > Vt",
        reset="v = Vr",
        refractory="2 ms",
        name="lsm_lif",
    )
    P = Population(model, n, name="liquid", method="exact", init={"v": Uniform("-60 mV", "-50 mV")})
    ne = int(0.8 * n)
    gen = SpikeGenerator(n_in, idx, times, name="input")
    objs = [
        P,
        gen,
        Synapses(gen, P, on_pre="ge += w", params={"w": "8 mV"}, connect=FixedProbability(0.2)),
        Synapses(
            P[:ne],
            P,
            on_pre="ge += w",
            params={"w": "1.5 mV"},
            connect=FixedProbability(0.1),
            delay=1.0,
        ),
        Synapses(
            P[ne:],
            P,
            on_pre="gi += w",
            params={"w": "-6 mV"},
            connect=FixedProbability(0.1),
            delay=1.0,
        ),
    ]
    mon = SpikeMonitor(P)
    net = Network(*objs, mon, seed=seed, backend="auto")
    net.run(100.0 * n_trials)
    ends = 100.0 * np.arange(n_trials) + 60.0
    k = np.minimum(np.searchsorted(ends, mon.t), n_trials - 1)
    ok = (mon.t <= ends[k]) & (mon.t > ends[k] - 50.0)
    X = np.zeros((n_trials, n))
    np.add.at(X, (k[ok], mon.i[ok]), np.exp(-(ends[k[ok]] - mon.t[ok]) / 20.0))
    return X, labels


def ridge(X, y, lam=1.0):
    A = np.hstack([X, np.ones((len(X), 1))])
    return np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ (2.0 * y - 1.0))


def test_reservoir_classifies_noisy_patterns_on_held_out_trials():
    X, y = reservoir_features()
    assert X.sum() > 0
    w = ridge(X[:150], y[:150])
    A = np.hstack([X[150:], np.ones((50, 1))])
    accuracy = np.mean((A @ w > 0) == y[150:])
    # chance is 0.5; 50 held-out trials: P(accuracy >= 0.8 | chance) = 1.2e-5
    assert accuracy >= 0.8
    # a readout trained on shuffled labels does not generalise (the features carry the
    # label, not the fit): accuracy near chance
    rng = np.random.default_rng(0)
    w0 = ridge(X[:150], rng.permutation(y[:150]))
    assert np.mean((A @ w0 > 0) == y[150:]) < 0.75


# -- Brunel (2000) model A -------------------------------------------------------------------


def brunel_rate_theory(
    g, nu_ratio, c_e=1000, j=0.1, tau=20.0, theta=20.0, v_r=10.0, t_rp=2.0, gamma=0.25
):
    """Stationary rate (Hz) of model A from Brunel (2000), eqs. 21-22 (diffusion limit):
    1/nu = t_rp + tau sqrt(pi) int_{(V_r - mu)/sigma}^{(theta - mu)/sigma} e^{u^2}(1 + erf u) du,
    mu = C_E J tau (nu_ext + nu (1 - g gamma)), sigma^2 = J^2 C_E tau (nu_ext + nu (1 +
    g^2 gamma)), solved for nu (times in ms).
    """
    from scipy.integrate import quad
    from scipy.optimize import brentq
    from scipy.special import erfcx

    nu_ext = nu_ratio * theta / (j * c_e * tau)

    def gap(nu):
        mu = c_e * j * tau * (nu_ext + nu * (1 - g * gamma))
        sigma = j * np.sqrt(c_e * tau * (nu_ext + nu * (1 + g * g * gamma)))
        integral = quad(lambda u: erfcx(-u), (v_r - mu) / sigma, (theta - mu) / sigma)[0]
        return 1.0 / (t_rp + tau * np.sqrt(np.pi) * integral) - nu

    return 1000.0 * brentq(gap, 1e-9, 1.0 / t_rp - 1e-12)


def brunel(g, duration, seed=1):
    """Rate (Hz), mean CV of the ISIs and chi (1 ms bins) of the excitatory neurons after a
    50 ms transient.
    """
    from biosnn import spikes

    net = load_network(
        "brunel",
        seed=seed,
        backend="auto",
        changes={"synapses.ie.params.g": g, "synapses.ii.params.g": g},
    )
    net.run(duration)
    mon = net.info.spike_monitors["exc"]
    keep = mon.t >= 50.0
    data = (mon.i[keep], mon.t[keep])
    return (
        spikes.mean_rate(data, duration, 50.0, n=4000),
        spikes.mean_cv(data, n=4000),
        spikes.synchrony(data, duration, 50.0, bin=1.0, n=4000),
    )


def test_brunel_synchronous_regular_state():
    # Brunel (2000) fig. 8A: g = 3, nu_ext/nu_thr = 2 (excitation dominates) - "almost
    # fully synchronized network, neurons firing regularly at high rates".  Parameters of
    # his model A (J = 0.1 mV, D = 1.5 ms, theta = 20 mV, V_r = 10 mV, tau = 20 ms, 2 ms
    # refractory, C_E = 1000, C_I = 250), sizes scaled to N_E = 4000 (models/networks/
    # brunel.toml).  Measured: 315 Hz, CV 0.001, chi 0.53.
    rate, cv, chi = brunel(3, 150.0)
    assert rate > 250.0  # near saturation: 1/(t_rp + a few ms)
    assert cv < 0.05  # clock-like firing
    assert chi > 0.4  # a population oscillation (chi = 1: identical)


def test_brunel_asynchronous_irregular_state():
    # fig. 8C: g = 5, nu_ext/nu_thr = 2 (inhibition dominates) - stationary global
    # activity, irregular firing.  Its rate is the mean-field fixed point (eqs. 21-22:
    # 37.9 Hz); measured 36.6 Hz, CV 0.35, chi 0.15 (independent neurons would give
    # 1/sqrt(4000) = 0.016; the scaled-down network shares 25 % of its inputs, more than
    # Brunel's 10 %, and is near the boundary of the fast oscillatory state).
    rate, cv, chi = brunel(5, 300.0)
    assert rate == pytest.approx(brunel_rate_theory(5, 2), rel=0.10)
    assert cv > 0.25  # irregular (SR: CV < 0.05)
    assert chi < 0.25  # asynchronous (SR: chi > 0.4)
