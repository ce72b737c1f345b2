"""Delays, delivery statements, spike generators and Poisson sources."""

import numpy as np
import pytest

from biosnn import Model
from biosnn.codegen import c_build
from biosnn.errors import ModelError
from biosnn.network import (
    FromArrays,
    Network,
    OneToOne,
    PoissonGroup,
    Population,
    RateMonitor,
    SpikeGenerator,
    SpikeMonitor,
    StateMonitor,
    Synapses,
)

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])
# a neuron that only integrates its input: v changes only at deliveries
FLAT = Model("dv/dt = 0*mV/ms : volt", name="flat")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("delay", [0.0, 0.5, 1.2])
def test_homogeneous_delay_arrives_exactly_d_steps_later(backend, delay):
    # a spike at t = 1 ms is emitted in step 9 (its end is 1.0 ms); with d = delay/dt
    # steps it is delivered in step 9 + d, so v jumps between the records at
    # t = 1.0 + delay - 0.1 and t = 1.0 + delay (records after each step)
    gen = SpikeGenerator(1, [0], [1.0])
    P = Population(FLAT, 1, method="euler")
    S = Synapses(
        gen, P, model="w : volt", on_pre="v += w", init={"w": 2.0}, connect=OneToOne(), delay=delay
    )
    mon = StateMonitor(P, "v", [0])
    net = Network(gen, P, S, mon, dt=0.1, seed=0, backend=backend)
    net.run(5.0)
    v = mon["v"][0]
    k = int(np.flatnonzero(v > 1.0)[0])
    assert mon.t[k] == pytest.approx(1.0 + delay)
    assert v[k - 1] == 0.0 and v[k] == 2.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_heterogeneous_delays(backend):
    gen = SpikeGenerator(1, [0, 0], [1.0, 2.0])
    P = Population(FLAT, 3, method="euler")
    S = Synapses(
        gen,
        P,
        model="w : volt",
        on_pre="v += w",
        init={"w": 1.0},
        connect=FromArrays([0, 0, 0], [0, 1, 2]),
        delay=np.array([0.3, 0.0, 0.7]),
    )
    mon = StateMonitor(P, "v", [0, 1, 2])
    net = Network(gen, P, S, mon, dt=0.1, seed=0, backend=backend)
    net.run(4.0)
    for q, d in enumerate((0.3, 0.0, 0.7)):
        v = mon["v"][q]
        first = mon.t[np.flatnonzero(v > 0.5)[0]]
        second = mon.t[np.flatnonzero(v > 1.5)[0]]
        assert first == pytest.approx(1.0 + d) and second == pytest.approx(2.0 + d)
    # synapses are stored grouped by source and, within a source, by delay
    by_post = dict(zip(S.state.post.tolist(), S.state.delay.tolist(), strict=True))
    assert by_post == pytest.approx({0: 0.3, 1: 0.0, 2: 0.7})


def test_negative_delay_is_refused():
    gen = SpikeGenerator(1, [0], [1.0])
    P = Population(FLAT, 1, method="euler")
    S = Synapses(gen, P, model="w : volt", on_pre="v += w", connect=OneToOne(), delay=-1)
    with pytest.raises(ModelError, match="delays .* must be finite and >= 0"):
        Network(gen, P, S)


@pytest.mark.parametrize("backend", BACKENDS)
def test_poisson_rate_statistics(backend):
    # per step a neuron spikes with probability p = rate*dt = 0.002; over 10 000 steps
    # the count is Binomial(10000, 0.002): mean 20, sd sqrt(20*(1-0.002)) = 4.47; the mean
    # over 1000 neurons has sd 0.141 -> within 5 sd of 20
    G = PoissonGroup(1000, "20 Hz")
    mon = SpikeMonitor(G)
    rate = RateMonitor(G, bin="100 ms")
    net = Network(G, mon, rate, seed=7, backend=backend)
    net.run("1 s")
    assert abs(mon.count.mean() - 20.0) < 5 * 0.141
    assert abs(mon.count.var() - 20.0 * 0.998) < 5 * 20 * np.sqrt(2 / 999)
    assert rate.rate.shape == (10,) and abs(rate.rate.mean() - 20.0) < 0.7


def test_poisson_same_in_both_engines():
    if "c" not in BACKENDS:
        pytest.skip("needs a C compiler")
    out = []
    for backend in ("numpy", "c"):
        G = PoissonGroup(200, lambda t: 50.0 + 40.0 * np.sin(t / 10.0))
        P = Population(FLAT, 10, method="euler")
        S = Synapses(
            G,
            P[:5],
            on_pre="v += we",
            params={"we": "0.5 mV"},
            connect=FromArrays(np.arange(200), np.arange(200) % 5),
        )
        mon = SpikeMonitor(G)
        sm = StateMonitor(P, "v", range(10), every=10)
        net = Network(G, P, S, mon, sm, seed=3, backend=backend)
        net.run(200.0)
        out.append((mon.i, mon.t, sm["v"]))
    assert out[0][0].size > 500
    for a, b in zip(*out, strict=True):
        assert np.array_equal(a, b)
    assert np.all(out[0][2][5:] == 0.0)  # the slice P[:5] is the only target


def test_post_statement_reading_post_state_is_sequential():
    # v_post += 0.5*(1 mV - v_post) applied by three synapses onto one neuron, one after
    # the other: v = 0 -> 0.5 -> 0.75 -> 0.875 (sequential semantics, as in C)
    for backend in BACKENDS:
        gen = SpikeGenerator(3, [0, 1, 2], [1.0, 1.0, 1.0])
        P = Population(FLAT, 1, method="euler")
        S = Synapses(gen, P, on_pre="v += 0.5*(1*mV - v)", connect=FromArrays([0, 1, 2], [0, 0, 0]))
        net = Network(gen, P, S, seed=0, backend=backend)
        net.run(2.0)
        assert net.arrays["Y0"][0, 0] == 0.875
