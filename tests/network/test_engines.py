"""NumPy and C engines run the same snippets and must give identical spike trains."""

import os
import re

import numpy as np
import pytest

from biosnn import Model
from biosnn.codegen import c_build
from biosnn.network import AllToAll, Network, Population, SpikeGenerator, StateMonitor

needs_c = pytest.mark.skipif(not c_build.compiler_available(), reason="needs a C compiler")


def _spikes(factory, backend, duration, **kw):
    net, mon, ne = factory(backend=backend, **kw)
    net.run(duration)
    assert net.stats["backend"] == backend
    return mon.i, mon.t, net


def test_network_code_never_calls_the_platforms_exp():
    """NumPy's float64 exp/expm1 are its own SIMD code on AVX-512 machines and differ from
    libm's in the last ulp, so neither engine may call them: every exp/expm1 of population
    and synapse code is respelled to biosnn's fixed-operation versions (network/_vmath.py),
    identical bits in NumPy and C on any IEEE machine.
    """
    import json

    from biosnn.network.synapse_models import kinetic_synapses

    clamp = Model("dq/dt = I_syn : coulomb", params={"I_syn": "0 pA", "v": "-65 mV"}, name="clamp")
    P = Population(clamp, 3, method="euler", params={"v": np.array([-70.0, -40.0, 10.0])})
    gen = SpikeGenerator(1, [0], [1.0], name="g")
    syn = kinetic_synapses("nmda", gen, P, "I_syn", connect=AllToAll(), w="1 nS")
    net = Network(P, gen, syn, dt=0.1, seed=1, backend="numpy")
    text = json.dumps(net.snippets()["syns"])  # populations: respelled by each engine
    assert "_vm_exp(" in text and "bsn_exp(" in text  # the synapse's Mg block
    assert "_np.exp(" not in text and "_np.expm1(" not in text
    assert not re.search(r"(?<![\w.])(exp|expm1)\(", text.replace("_np.", "np_"))


@needs_c
def test_exp_in_synapse_code_is_identical_in_both_engines():
    """An NMDA synapse (exp in its Mg block, network/synapse_models.py) onto clamped
    neurons whose own equation has an exp: the NumPy and C engines give the same bits.
    """
    from biosnn.network.synapse_models import kinetic_synapses

    out = []
    for backend in ("numpy", "c"):
        clamp = Model(
            "dq/dt = I_syn + exp(v/(30*mV))*pA : coulomb",
            params={"I_syn": "0 pA", "v": "-65 mV"},
            name="clamp",
        )
        v = np.linspace(-90.0, 30.0, 13)
        P = Population(clamp, v.size, method="euler", params={"v": v})
        gen = SpikeGenerator(1, [0, 0, 0], [1.0, 7.3, 7.9], name="g")
        syn = kinetic_synapses("nmda", gen, P, "I_syn", connect=AllToAll(), w="1 nS")
        mon = StateMonitor(P, ["q"], np.arange(v.size))
        net = Network(P, gen, syn, mon, dt=0.05, seed=1, backend=backend)
        net.run(40.0)
        out.append(mon["q"].copy())
    assert np.abs(out[0]).max() > 0
    assert np.array_equal(out[0], out[1])


@needs_c
def test_cuba_numpy_and_c_identical():
    from _networks import cuba

    i1, t1, _ = _spikes(cuba, "numpy", "200 ms")
    i2, t2, _ = _spikes(cuba, "c", "200 ms")
    assert i1.size > 1000  # the network is active (about 5 Hz x 4000 x 0.2 s)
    assert np.array_equal(i1, i2) and np.array_equal(t1, t2)


@needs_c
def test_cobahh_numpy_and_c_identical():
    from _networks import cobahh

    i1, t1, _ = _spikes(cobahh, "numpy", "50 ms")
    i2, t2, _ = _spikes(cobahh, "c", "50 ms")
    assert i1.size > 500
    assert np.array_equal(i1, i2) and np.array_equal(t1, t2)


@needs_c
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_run_in_pieces_equals_one_run(backend):
    from _networks import cuba

    a, ma, _ = cuba(n=1000, p=0.08, backend=backend)
    a.run("30 ms")
    a.run("70 ms")
    b, mb, _ = cuba(n=1000, p=0.08, backend=backend)
    b.run("100 ms")
    assert ma.n > 100
    assert np.array_equal(ma.i, mb.i) and np.array_equal(ma.t, mb.t)
    assert np.array_equal(a.arrays["Y0"], b.arrays["Y0"])


@needs_c
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_store_restore_bit_for_bit(backend):
    from _networks import cuba

    net, mon, _ = cuba(n=1000, p=0.08, backend=backend)
    net.run("20 ms")
    net.store("x")
    net.run("50 ms")
    first_i, first_t, y = mon.i.copy(), mon.t.copy(), net.arrays["Y0"].copy()
    net.restore("x")
    assert net.t == pytest.approx(20.0)
    net.run("50 ms")
    assert np.array_equal(mon.i, first_i) and np.array_equal(mon.t, first_t)
    assert np.array_equal(net.arrays["Y0"], y)
    with pytest.raises(KeyError, match="nothing stored under 'nope'"):
        net.restore("nope")


@needs_c
def test_threads_do_not_change_bits():
    """Populations of PAR_MIN neurons or more are split into one block per OpenMP thread;
    each block runs the same code, so 1 and 2 threads give the same bits.
    """
    import ctypes.util

    from biosnn.network import _cengine

    from _networks import cobahh

    name = ctypes.util.find_library("gomp")
    if name is None:
        pytest.skip("libgomp not found: the engine runs single-threaded")
    gomp = ctypes.CDLL(name)
    out = []
    for threads in (1, 2):
        net, mon, _ = cobahh(n=2400, backend="c")
        assert net.populations[0].n >= _cengine.PAR_MIN
        gomp.omp_set_num_threads(threads)
        net.run("20 ms")
        out.append((mon.i.copy(), net.arrays["Y0"].copy()))
    gomp.omp_set_num_threads(os.cpu_count() or 1)
    assert out[0][0].size > 50
    assert np.array_equal(out[0][0], out[1][0])
    assert np.array_equal(out[0][1].view(np.int64), out[1][1].view(np.int64))


def test_exact_update_drops_structural_zeros_of_the_propagator():
    """CUBA's ge and gi decay on their own and only v has a constant term (El/taum), so
    M = expm([[A, b], [0, 0]] dt) has exact zeros in 6 of 12 places; the update keeps the
    other terms only.  The dropped entries of the propagator the network computes are
    exactly 0.0, so the dropped products were +-0 and the result is unchanged.
    """
    from biosnn.network._lower import _propagator_pattern, population_snippets

    from _networks import cuba

    net, _, _ = cuba(n=200, p=0.05, backend="numpy", monitor=False)
    spec = net.populations[0].model.kernel_spec()
    snip = population_snippets(spec, "exact")
    assert snip["update"]["py"] == [
        "yn_0 = ((M[0][0]*y_0 + M[0][1]*y_1) + M[0][2]*y_2) + M[0][3]",
        "yn_1 = M[1][1]*y_1",
        "yn_2 = M[2][2]*y_2",
    ]
    net.run("1 ms")  # builds the propagator
    m = net.arrays["MP0"][0]
    keep = np.array(_propagator_pattern(spec))
    assert keep.sum() == 6
    assert np.all(m[:3][~keep] == 0.0) and np.all(m[:3][keep] != 0.0)
