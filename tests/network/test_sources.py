"""Per-neuron, time-varying Poisson rates and the memory bounds of monitors."""

import numpy as np
import pytest

from biosnn.codegen import c_build
from biosnn.errors import ModelError, SimulationError
from biosnn.network import Network, PoissonGroup, RateMonitor, SpikeMonitor

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])


def _half_counts(mon, n, t_half):
    first = np.bincount(mon.i[mon.t <= t_half], minlength=n)
    second = np.bincount(mon.i[mon.t > t_half], minlength=n)
    return first, second


@pytest.mark.parametrize("backend", BACKENDS)
def test_rate_table_over_steps_and_neurons(backend):
    # neurons 0..499: 40 Hz then 0 Hz; neurons 500..999: 0 Hz then 40 Hz (500 ms each).
    # A count over 500 ms at 40 Hz is Binomial(5000, 0.004): mean 20, variance 19.92; the
    # mean over 500 neurons has sd sqrt(19.92/500) = 0.20
    n, steps = 1000, 10000
    table = np.zeros((steps, n))
    table[: steps // 2, : n // 2] = 40.0
    table[steps // 2 :, n // 2 :] = 40.0
    G = PoissonGroup(n, table)
    mon = SpikeMonitor(G)
    net = Network(G, mon, dt=0.1, seed=2, backend=backend)
    net.run(1000.0)
    first, second = _half_counts(mon, n, 500.0)
    assert abs(first[: n // 2].mean() - 20.0) < 5 * 0.20
    assert abs(second[n // 2 :].mean() - 20.0) < 5 * 0.20
    assert first[n // 2 :].sum() == 0 and second[: n // 2].sum() == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_rate_function_returning_one_rate_per_neuron(backend):
    # rate_i(t) = 2*i Hz for t < 200 ms, then 0: neuron i expects 0.4*i spikes
    n = 200
    G = PoissonGroup(n, lambda t: np.where(t < 200.0, 2.0 * np.arange(n), 0.0))
    mon = SpikeMonitor(G)
    net = Network(G, mon, dt=0.1, seed=4, backend=backend)
    net.run(400.0)
    assert mon.t.max() <= 200.0 + 1e-9
    expected = 0.4 * np.arange(n)
    # sum over neurons: Poisson-like with mean 0.4*sum(i) = 7960, sd about 89
    assert abs(mon.count.sum() - expected.sum()) < 5 * np.sqrt(expected.sum())
    # the rate grows with the index: the upper half fires about 3 times the lower half
    lower, upper = mon.count[: n // 2].sum(), mon.count[n // 2 :].sum()
    assert 2.5 < upper / lower < 3.5  # expected (sum of 100..199)/(sum of 0..99) = 3.02


def test_per_neuron_rates_identical_in_both_engines():
    if "c" not in BACKENDS:
        pytest.skip("needs a C compiler")
    out = []
    for backend in ("numpy", "c"):
        n = 50
        G1 = PoissonGroup(n, lambda t, n=n: 30.0 * (1 + np.sin(t / 20.0 + np.arange(n))))
        G2 = PoissonGroup(n, np.random.default_rng(0).uniform(0, 80, (1000, n)))
        m1, m2 = SpikeMonitor(G1), SpikeMonitor(G2)
        net = Network(G1, G2, m1, m2, dt=0.1, seed=9, backend=backend)
        net.run(100.0)
        out.append((m1.i, m1.t, m2.i, m2.t))
    assert out[0][0].size > 100
    for a, b in zip(*out, strict=True):
        assert np.array_equal(a, b)


def test_rate_errors():
    with pytest.raises(ModelError, match=r"an array of shape \(steps, 5\)"):
        PoissonGroup(5, np.ones((10, 3)))
    G = PoissonGroup(5, np.ones((10, 5)))
    net = Network(G, dt=0.1, seed=0, backend="numpy")
    with pytest.raises(SimulationError, match="has 10 steps; this run needs steps 0..19"):
        net.run(2.0)
    with pytest.raises(ModelError, match=r"must return a number or an array of n = 5"):
        Network(PoissonGroup(5, lambda t: np.ones(3)), backend="numpy")


@pytest.mark.parametrize("backend", BACKENDS)
def test_rate_table_larger_than_memory_is_refused(backend):
    # 10**6 neurons x 10**7 steps x 8 bytes = 80 TB: refused before anything is allocated
    G = PoissonGroup(10**6, lambda t: np.full(10**6, 5.0))
    net = Network(G, dt=0.1, seed=0, backend=backend)
    with pytest.raises(SimulationError, match="rate table of PoissonGroup .* would need"):
        net.run("1000 s")


@pytest.mark.parametrize("backend", BACKENDS)
def test_rate_monitor_larger_than_memory_is_refused(backend):
    G = PoissonGroup(1, "1 Hz")
    net = Network(G, RateMonitor(G), dt=0.1, seed=0, backend=backend)
    with pytest.raises(SimulationError, match="RateMonitor of .* would need .* GiB"):
        net.run("1e7 s")  # 10**11 steps x 8 bytes


@pytest.mark.parametrize("backend", BACKENDS)
def test_spike_monitor_stops_before_exceeding_memory(backend, monkeypatch):
    # pretend only 64 kB are available: 80 % of it holds about 2100 spikes (24 bytes
    # each, counted twice for the copy when the pieces are joined)
    G = PoissonGroup(1000, "500 Hz")
    mon = SpikeMonitor(G)
    net = Network(G, mon, dt=0.1, seed=0, backend=backend)
    net.run(0.1)  # compile before the memory shrinks (the compiler needs some)
    from biosnn import _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 16 * 4096)
    with pytest.raises(SimulationError, match="SpikeMonitor of .* would need"):
        net.run(100.0)  # about 50 000 spikes
