"""Order of synapse statements (sequential semantics) and the spike variables
``lastspike`` / ``not_refractory`` of populations in synapse expressions.

docs/network.md, "Order of synapse statements" and "Refractoriness in synapses".  Every
test runs on both engines; the expected values are worked out by hand from the step
schedule of docs/network.md.
"""

import numpy as np
import pytest

from biosnn import Model
from biosnn.codegen import c_build
from biosnn.errors import ModelError
from biosnn.network import (
    FixedProbability,
    FromArrays,
    Network,
    Population,
    SpikeGenerator,
    SpikeMonitor,
    Synapses,
)
from biosnn.network._npengine import order_sides, sequential_rounds

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])

# every neuron spikes once, at the end of step 10 (c = 11 * 0.1 > 1), all together; v
# changes only at deliveries
CLOCKED = Model(
    """
    dv/dt = 0*mV/ms : volt
    dc/dt = 1/ms : 1
    """,
    threshold="c > 1",
    reset="c = -1000",
    name="clocked",
)


def recurrent(on_pre, i, j, v0, backend):
    P = Population(CLOCKED, len(v0), method="euler", init={"v": v0})
    S = Synapses(P, P, on_pre=on_pre, connect=FromArrays(i, j))
    net = Network(P, S, dt=0.1, seed=0, backend=backend)
    net.run(2.0)
    return net.arrays["Y0"][0].copy()


@pytest.mark.parametrize("backend", BACKENDS)
def test_recurrent_statements_run_synapse_by_synapse(backend):
    # the three neurons spike in the same step; the delivery runs the spiking sources in
    # increasing index, each over its synapses: 0 -> 1 first (v1 = 2 + 1 = 3), then
    # 1 -> 2 reads the new v1 (v2 = 4 + 3 = 7).  Vectorised reads of v_pre would give
    # v2 = 4 + 2 = 6: the gap this test guards.
    v = recurrent("v_post += v_pre", [0, 1], [1, 2], [1.0, 2.0, 4.0], backend)
    assert v.tolist() == [1.0, 3.0, 7.0]
    # the later source feeding the earlier one: 0 -> 1 (v1 = 2 + 1 = 3), then 1 -> 0
    # (v0 = 1 + 3 = 4)
    v = recurrent("v_post += v_pre", [1, 0], [0, 1], [1.0, 2.0, 4.0], backend)
    assert v.tolist() == [4.0, 3.0, 4.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_writes_through_pre_read_through_post(backend):
    # 0 -> 1 then 1 -> 2, each v_pre = v_pre + 2*v_post: v0 = 1 + 2*2 = 5, then
    # v1 = 2 + 2*4 = 10 (v2 unchanged); a chain of writes through the other side
    v = recurrent("v_pre = v_pre + 2*v_post", [0, 1], [1, 2], [1.0, 2.0, 4.0], backend)
    assert v.tolist() == [5.0, 10.0, 4.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_statements_on_one_target_keep_synapse_order(backend):
    # sources 0 and 1 both onto neuron 2, two statements each: sequentially
    # v2 = ((4 + 1)*0.5 + 2)*0.5 = 2.25; statement by statement over both synapses
    # it would be (4 + 1 + 2)*0.5*0.5 = 1.75
    v = recurrent("v_post += v_pre; v_post *= 0.5", [0, 1], [2, 2], [1.0, 2.0, 4.0], backend)
    assert v[2] == 2.25


@pytest.mark.parametrize("backend", BACKENDS)
def test_recurrent_nonlinear_coupling_matches_one_synapse_at_a_time(backend, monkeypatch):
    # a recurrent group whose statements read the presynaptic voltage and write the
    # postsynaptic one, with many simultaneous spikes (three groups of identical
    # neurons): every engine must give the bits of the literal loop, one synapse at a
    # time (the NumPy engine with one synapse per round)
    from biosnn.network import _npengine

    lif = Model(
        "dv/dt = (I - v)/tau : volt (unless refractory)",
        params={"I": "20 mV", "tau": "10 ms"},
        threshold="v > 15*mV",
        reset="v = 0*mV",
        refractory="1 ms",
        name="lif_order",
    )

    def run(engine):
        P = Population(lif, 60, method="exact", init={"v": np.repeat([0.0, 5.0, 10.0], 20)})
        S = Synapses(
            P,
            P,
            on_pre="v_post += 0.3*mV*v_pre/(5*mV + abs(v_pre)) - 0.02*v_post",
            connect=FixedProbability(0.3),
            delay=0.0,
        )
        mon = SpikeMonitor(P)
        net = Network(P, S, mon, dt=0.1, seed=3, backend=engine)
        net.run(100.0)
        return net.arrays["Y0"].copy(), mon.i.copy(), mon.t.copy()

    got = run(backend)
    monkeypatch.setattr(
        _npengine, "sequential_rounds", lambda keys: [np.array([q]) for q in range(len(keys))]
    )
    ref = run("numpy")
    assert ref[1].size > 350  # 392 spikes, 98 of them in a step with
    assert ref[2].size - np.unique(ref[2]).size > 80  # another spike
    for a, b in zip(got, ref, strict=True):
        assert np.array_equal(a, b)


def test_order_analysis():
    one = {"list": [{"kind": "post", "index": 0, "op": "+=", "reads": []}]}
    assert order_sides(one, {"pre": 0, "post": 0}) is None  # v += w: ufunc.at
    rec = {"list": [{"kind": "post", "index": 0, "op": "+=", "reads": [["pre", 0]]}]}
    assert order_sides(rec, {"pre": 0, "post": 0}) == {"j": 0, "ip": 0}
    assert order_sides(rec, {"pre": 1, "post": 0}) is None  # two populations
    # keys in sequence order: 0 and 2 share neuron 5, 1 and 2 share neuron 7
    rounds = sequential_rounds(np.array([[5, 1], [7, 2], [5, 7], [9, 9]]))
    assert [r.tolist() for r in rounds] == [[0, 1, 3], [2]]


# -- lastspike and not_refractory ----------------------------------------------------------

REFR = Model(
    "dv/dt = -v/tau : volt (unless refractory)",
    params={"tau": "1e9 ms"},
    threshold="v > 10*mV",
    reset="v = 0*mV",
    refractory="2 ms",
    name="refr",
)


def refractory_inputs(on_pre, backend, model=None):
    """One neuron kicked to spike at the end of step 10 (t = 1.1 ms: a 20 mV input at
    1.0 ms lands after the update of step 9), then 1 mV inputs at 1.5, 3.0, 3.1, 5 ms.
    """
    kick = SpikeGenerator(1, [0], [1.0], name="kick")
    probe = SpikeGenerator(1, [0] * 4, [1.5, 3.0, 3.1, 5.0], name="probe")
    P = Population(REFR, 1, method="exact", init={"v": 0.0})
    S0 = Synapses(kick, P, on_pre="v += 20*mV", connect=FromArrays([0], [0]))
    S1 = Synapses(probe, P, model=model, on_pre=on_pre, connect=FromArrays([0], [0]))
    mon = SpikeMonitor(P)
    net = Network(kick, probe, P, S0, S1, mon, dt=0.1, seed=0, backend=backend)
    net.run(6.0)
    return net, S1, mon


@pytest.mark.parametrize("backend", BACKENDS)
def test_not_refractory_discards_input_during_refractoriness(backend):
    # spike at 1.1 ms, refractory 2 ms: the steps starting at 1.1 ... 3.0 hold v.  An
    # input delivered at t (end of its step) is kept when the step starting at t
    # integrates: t + dt/2 >= 1.1 + 2, so 1.5 and 3.0 are discarded, 3.1 and 5.0 kept
    net, _, mon = refractory_inputs("v += where(not_refractory, 1*mV, 0*mV)", backend)
    assert mon.t.tolist() == pytest.approx([1.1])
    assert net.arrays["Y0"][0, 0] == pytest.approx(2.0, rel=1e-8)
    # without the guard the held v keeps the jumps made during refractoriness
    net, _, _ = refractory_inputs("v += 1*mV", backend)
    assert net.arrays["Y0"][0, 0] == pytest.approx(4.0, rel=1e-8)
    # not_refractory_post is the same variable; as a number it is 1 or 0
    net, _, _ = refractory_inputs("v += not_refractory_post*1*mV", backend)
    assert net.arrays["Y0"][0, 0] == pytest.approx(2.0, rel=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lastspike_post_in_statements(backend):
    # the last input (5 ms) reads the time of the spike, 1.1 ms; before any spike it is
    # -inf (t - lastspike = inf)
    _, S, _ = refractory_inputs(
        "ls = lastspike_post; ago = t - lastspike", backend, model="ls : second\nago : second"
    )
    assert S.state.ls[0] == pytest.approx(1.1)
    assert S.state.ago[0] == pytest.approx(5.0 - 1.1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_spike_of_this_step_counts_for_lastspike_pre(backend):
    # a recurrent synapse is delivered (delay 0) in the step of the spike, before the
    # reset: lastspike_pre is already that spike's time and the neuron is refractory
    P = Population(CLOCKED, 2, method="euler")
    S = Synapses(
        P,
        P,
        model="ls : second\nnr : 1",
        on_pre="ls = lastspike_pre; nr = not_refractory_pre",
        connect=FromArrays([0], [1]),
    )
    net = Network(P, S, dt=0.1, seed=0, backend=backend)
    net.run(2.0)
    assert S.state.ls[0] == pytest.approx(1.1)
    assert S.state.nr[0] == 1.0  # CLOCKED has no refractoriness: always true


@pytest.mark.parametrize("backend", BACKENDS)
def test_not_refractory_in_clock_driven_and_summed(backend):
    # z counts (Euler, dz = dt/ms per refractory step) the steps in which the
    # presynaptic neuron is refractory: the steps starting at 1.1 ... 3.0, 20 steps,
    # z = 2.0; the summed input I_post = where(not_refractory_pre, 0, 1) mV/ms drives
    # a flat neuron by the same amount
    kick = SpikeGenerator(1, [0], [1.0], name="kick")
    pre = Population(REFR, 1, method="exact", name="pre")
    flat = Model("dv/dt = I : volt", params={"I": "0 mV/ms"}, name="flat_i")
    post = Population(flat, 1, method="euler", name="post")
    S0 = Synapses(kick, pre, on_pre="v += 20*mV", connect=FromArrays([0], [0]))
    S = Synapses(
        pre,
        post,
        model="""
        dz/dt = where(not_refractory_pre, 0, 1)/ms : 1 (clock-driven)
        I_post = where(not_refractory_pre, 0*mV/ms, 1*mV/ms) : volt/second (summed)
        """,
        connect=FromArrays([0], [0]),
        method="euler",
    )
    net = Network(kick, pre, post, S0, S, dt=0.1, seed=0, backend=backend)
    net.run(6.0)
    assert S.state.z[0] == pytest.approx(2.0, rel=1e-12)
    assert net.arrays["Y1"][0, 0] == pytest.approx(2.0, rel=1e-12)


def test_spike_variables_are_read_only_and_not_for_sources():
    P = Population(REFR, 2, method="exact")
    gen = SpikeGenerator(1, [0], [1.0])
    with pytest.raises(ModelError, match="read-only"):
        Network(
            P,
            Synapses(P, P, on_pre="lastspike_post = t", connect=FromArrays([0], [1])),
            backend="numpy",
        ).run(0.1)
    with pytest.raises(ModelError, match="not a variable of the presynaptic"):
        Network(
            P,
            gen,
            Synapses(gen, P, on_pre="v += not_refractory_pre*mV", connect=FromArrays([0], [1])),
            backend="numpy",
        ).run(0.1)
