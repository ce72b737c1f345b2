"""The compiler's first-use checks of the C network engine (biosnn/network/_cengine.py,
``start_checks``): on an empty cache they run in a background thread while the network
is built, once; the OpenMP probe (biosnn/codegen/c_build.py) runs once per compiler
identity and cache even when two threads ask at the same time.
"""

import threading
import time

import pytest

from biosnn import Model
from biosnn.codegen import c_build
from biosnn.network import Network, Population, SpikeMonitor, _cengine

HAS_C = c_build.compiler_available()


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty cache and a process that has not asked the compiler anything yet."""
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(c_build, "_OPENMP", {})
    monkeypatch.setattr(c_build, "_AVAILABLE", {})
    monkeypatch.setattr(_cengine, "_CHECKS", {})
    probes = []
    real = c_build._probe_openmp

    def probe(compiler):
        probes.append(threading.current_thread().name)
        return real(compiler)

    monkeypatch.setattr(c_build, "_probe_openmp", probe)
    return probes


def _net():
    """Ten LIF cells driven above threshold.  Euler with dt = 0.1 ms on dv/dt = (2 mV -
    v)/10 ms from 0: v_k = 2 mV (1 - 0.99**k) > 1 mV first at k = 69 (0.99**69 = 0.4998),
    a spike at the end of that step, t = 6.9 ms; after the reset to -100 mV the next
    crossing is 10 ms * ln 102 = 46 ms later, so one spike each in 10 ms.
    """
    cell = Model(
        "dv/dt = (I - v)/(10*ms) : volt\nI : volt",
        params={"I": "2 mV"},
        threshold="v > 1*mV",
        reset="v = -100*mV",
        name="checked_cell",
    )
    pop = Population(cell, 10, method="euler", init={"v": "0 mV"})
    mon = SpikeMonitor(pop)
    return Network(pop, mon, dt="0.1 ms", seed=0, backend="c"), mon


@pytest.mark.skipif(not HAS_C, reason="the C engine needs a C compiler")
def test_an_empty_cache_checks_the_compiler_in_the_background_once(fresh):
    net, mon = _net()
    (thread,) = _cengine._CHECKS.values()  # started by Network(), before any run
    net.run(10.0)
    assert not thread.is_alive()  # joined before the engine was made
    assert fresh == ["biosnn-compiler-checks"]  # the OpenMP probe ran once, in the thread
    assert net.stats["backend"] == "c"
    assert list(mon.count) == [1] * 10 and mon.t == pytest.approx([6.9] * 10)  # see _net
    compiler = c_build.find_compiler()
    assert c_build.openmp_known(compiler) is c_build.openmp_available(compiler)
    # a second network in this process: nothing new is started or probed
    again, _ = _net()
    again.run(1.0)
    assert list(_cengine._CHECKS.values()) == [thread] and len(fresh) == 1


@pytest.mark.skipif(not HAS_C, reason="the C engine needs a C compiler")
def test_a_warm_cache_starts_no_checks(fresh, monkeypatch):
    _net()[0].run(0.0)
    # as a new process on the same cache: the answers are on disk, no thread, no probe
    monkeypatch.setattr(c_build, "_OPENMP", {})
    monkeypatch.setattr(_cengine, "_CHECKS", {})
    net, _ = _net()
    assert _cengine._CHECKS == {}
    net.run(1.0)
    assert len(fresh) == 1 and net.stats["backend"] == "c"


@pytest.mark.skipif(not HAS_C, reason="the C engine needs a C compiler")
def test_two_threads_asking_for_openmp_probe_once(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(c_build, "_OPENMP", {})
    calls = []

    def slow_probe(compiler):  # long enough for the other thread to ask meanwhile
        calls.append(1)
        time.sleep(0.3)
        return True

    monkeypatch.setattr(c_build, "_probe_openmp", slow_probe)
    compiler = c_build.find_compiler()
    assert c_build.openmp_known(compiler) is None  # an empty cache: not known
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(c_build.openmp_available(compiler)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [True, True] and len(calls) == 1
    # the answer is on disk: a new process (empty memory) reads it without probing
    monkeypatch.setattr(c_build, "_OPENMP", {})
    assert c_build.openmp_known(compiler) is True and len(calls) == 1
