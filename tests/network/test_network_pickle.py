"""Networks pickle with the standard pickle, before and after run(), and continue
exactly: a pickled network holds its definition and state (objects, monitors, arrays,
stored states), not its engine (made again by the next run).

Reference numbers: the same network run without pickling, in this process (bit for
bit: same spikes, same arrays).
"""

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from biosnn.codegen import c_build
from biosnn.network.files import load_network

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])
SMALL = {"populations.exc.n": 400, "populations.inh.n": 100}


def _cuba(backend):
    return load_network("cuba", seed=1, changes=SMALL, backend=backend)


def _same(a, b):
    """Assert that networks ``a`` and ``b`` are in the same state with the same spikes;
    the number of spikes compared.
    """
    spikes = 0
    for name in ("exc", "inh"):
        x, y = a.info.spike_monitors[name], b.info.spike_monitors[name]
        assert x.n > 0
        spikes += x.i.size
        np.testing.assert_array_equal(x.i, y.i)
        np.testing.assert_array_equal(x.t, y.t)
    assert a.step == b.step and sorted(a.arrays) == sorted(b.arrays)
    for key in a.arrays:
        np.testing.assert_array_equal(a.arrays[key], b.arrays[key])
    return spikes


def _run(net, duration):
    net.run(duration)
    return net


@pytest.mark.parametrize("backend", BACKENDS)
def test_pickle_before_and_after_run(backend):
    ref = _cuba(backend)
    ref.run("100 ms")
    net = _cuba(backend)
    before = pickle.dumps(net)  # before: fine; after run(): "cannot pickle
    net.run("50 ms")  # 'module' object" (the engine)
    after = pickle.dumps(net)
    for copy, duration in ((pickle.loads(before), "100 ms"), (pickle.loads(after), "50 ms")):
        copy.run(duration)
        assert copy.stats["backend"] == backend
        _same(copy, ref)
    net.run("50 ms")  # the original is unaffected
    _same(net, ref)


def test_store_restore_survive_pickling():
    net = _cuba("numpy")
    net.run("20 ms")
    net.store("t20")
    net.run("30 ms")
    copy = pickle.loads(pickle.dumps(net))
    copy.restore("t20")
    copy.run("30 ms")
    assert _same(copy, net) > 0


def test_run_in_a_new_process():
    ref = _run(_cuba("numpy"), "60 ms")
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        back = pool.submit(_run, _cuba("numpy"), "60 ms").result(timeout=300)
    assert _same(back, ref) > 0
