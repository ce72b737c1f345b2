"""The block (SIMD lanes) and thread layout of the C fixed-step driver.

Results must not depend on the thread count or on where the block boundaries fall;
a partial last block, spikes of many blocks, stimuli, noise and blow-ups in a later
block behave as in the NumPy driver.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from biosnn.codegen import c_backend, c_build
from biosnn.errors import SimulationError
from biosnn.solvers.request import RunRequest
from biosnn.stimulus import Stimulus

sys.path.insert(0, str(Path(__file__).parent))
import test_c_specs as S
from test_c_agreement import assert_agree, numpy_run

pytestmark = pytest.mark.skipif(c_build.find_compiler() is None, reason="no C compiler")


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOSNN_CACHE_DIR", str(tmp_path_factory.mktemp("ccache")))
        yield


def _hh_request(method, n, dt=0.025, t1=30.0, stim=False):
    spec = S.hh_spec()
    params = S.param_array(spec, S.HH_PARAMS, n)
    params[spec.params.index("I_ext")] = np.linspace(0.0, 20.0, n)
    stimuli = {}
    if stim:
        amps = np.linspace(2.0, 15.0, n)
        stimuli = {spec.params.index("I_ext"): Stimulus.pulse(5.0, 20.0, amps)}
    y0 = np.array([-65.0, 0.05, 0.6, 0.32])[:, None].repeat(n, 1)
    return spec, RunRequest(
        method=method,
        t0=0.0,
        t1=t1,
        dt=dt,
        rtol=None,
        atol=None,
        y0=y0,
        params=params,
        stimuli=stimuli,
        record_states=(0, 3),
        record_every=8,
        record_dt=8 * dt,
    )


def _same(a, b):
    for name in ("t", "y", "y_final", "spike_index", "spike_time"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("method", ["exponential_euler", "rk4"])
def test_thread_count_does_not_change_results(monkeypatch, method):
    spec, req = _hh_request(method, 37, stim=True)  # 37: a partial last block
    monkeypatch.setenv("BIOSNN_NUM_THREADS", "1")
    one = c_backend.run(spec, req)
    monkeypatch.setenv("BIOSNN_NUM_THREADS", "2")
    two = c_backend.run(spec, req)
    monkeypatch.setenv("BIOSNN_NUM_THREADS", "3")
    three = c_backend.run(spec, req)
    _same(one, two)
    _same(one, three)
    assert one.spike_time.size > 20


@pytest.mark.parametrize("n", [1, 7, 8, 9, 17])
def test_block_boundaries_agree_with_numpy(n):
    spec, req = _hh_request("rk4", n, dt=0.01, t1=20.0, stim=True)
    assert_agree(c_backend.run(spec, req), numpy_run(spec, req), ytol=1e-7, ttol=1e-7)


def test_each_instance_equals_its_own_run():
    """Lanes do not interact: instance 11 of 20 equals a run of that instance alone."""
    spec, req = _hh_request("exponential_euler", 20)
    full = c_backend.run(spec, req)
    spec, one = _hh_request("exponential_euler", 1)
    one.params = req.params[:, 11:12].copy()
    alone = c_backend.run(spec, one)
    np.testing.assert_array_equal(full.y[:, 11], alone.y[:, 0])
    np.testing.assert_array_equal(full.spike_time[full.spike_index == 11], alone.spike_time)


@pytest.mark.parametrize("method", ["exponential_euler", "rk4"])
def test_dispatched_clone_and_portable_build_agree(monkeypatch, method):
    """The kernel unit's clone picked on this machine (x86-64-v3 with fused multiply-add
    where the CPU has it) and the portable build (``BS_NO_CLONES``: no clones, no FMA)
    integrate the same model to rounding: 30 ms of HH with spikes, 20 neurons.  A few
    ulp per step are amplified by the spikes' instability; measured on an x86-64-v3
    machine: 6.9e-8 mV and 8.7e-11 ms (exponential Euler), 9e-12 mV (RK4).
    """
    spec, req = _hh_request(method, 20, dt=0.025 if method == "exponential_euler" else 0.01)
    dispatched = c_backend.run(spec, req)
    text = "#define BS_NO_CLONES 1\n" + c_backend.generate_source(spec, "fixed")
    portable = c_backend.CKernel(spec.key, "fixed", c_build.build(text), text)
    monkeypatch.setattr(c_backend, "kernel", lambda spec, family: portable)
    assert_agree(c_backend.run(spec, req), dispatched, ytol=1e-8, ttol=1e-9)
    assert dispatched.spike_time.size > 20


def test_stochastic_blocks_and_threads(monkeypatch):
    spec = S.ou_spec()
    n = 21
    req = RunRequest(
        method="stochastic_heun",
        t0=0.0,
        t1=5.0,
        dt=0.01,
        rtol=None,
        atol=None,
        y0=np.zeros((1, n)),
        params=S.param_array(spec, S.OU_PARAMS, n),
        record_states=(0,),
        record_every=10,
        record_dt=0.1,
        seed=5,
    )
    monkeypatch.setenv("BIOSNN_NUM_THREADS", "1")
    one = c_backend.run(spec, req)
    monkeypatch.setenv("BIOSNN_NUM_THREADS", "2")
    _same(one, c_backend.run(spec, req))
    # The draws are bit-identical (tests/network/test_noise.py); the C kernel unit contracts
    # a*b + c into FMAs (docs/architecture.md, floating-point contract), so a located spike
    # time may differ from NumPy's in its last ulps.
    assert_agree(one, numpy_run(spec, req), ytol=1e-10, ttol=1e-12)


def test_many_spikes_across_blocks_and_buffer_growth(monkeypatch):
    spec = S.lif_spec()
    n = 45
    values = dict(S.LIF_PARAMS, tref=0.0, I=2000.0)
    req = RunRequest(
        method="euler",
        t0=0.0,
        t1=200.0,
        dt=0.01,
        rtol=None,
        atol=None,
        y0=np.full((1, n), -70.0),
        params=S.param_array(spec, values, n),
        record_states=(0,),
        record_every=100,
        record_dt=1.0,
    )
    monkeypatch.setenv("BIOSNN_NUM_THREADS", "2")
    c = c_backend.run(spec, req)
    assert c.spike_time.size > 4 * 1024
    assert np.all(np.diff(c.spike_index) >= 0)
    assert_agree(c, numpy_run(spec, req), ytol=1e-6, ttol=1e-6)


def test_blow_up_in_a_later_block_names_that_instance(monkeypatch):
    x = sp.Symbol("x", real=True)
    spec = S.make_spec("blowb", ["x"], [], [x**2], tag="blowb")
    y0 = np.full((1, 20), 0.01)
    y0[0, 13] = 1.0  # x' = x^2 blows up at t = 1 from x = 1
    req = RunRequest(
        method="rk4",
        t0=0.0,
        t1=2.0,
        dt=0.001,
        rtol=None,
        atol=None,
        y0=y0,
        params=np.zeros((0, 20)),
        record_states=(0,),
    )
    monkeypatch.setenv("BIOSNN_NUM_THREADS", "2")
    with pytest.raises(SimulationError, match=r"instance 13.*'x'|'x'.*instance 13"):
        c_backend.run(spec, req)


def test_thread_setting(monkeypatch):
    monkeypatch.setenv("BIOSNN_NUM_THREADS", "3")
    assert c_backend.n_threads() == 3
    monkeypatch.setenv("BIOSNN_NUM_THREADS", "junk")
    assert c_backend.n_threads() >= 1
    monkeypatch.delenv("BIOSNN_NUM_THREADS")
    assert c_backend.n_threads() >= 1


def test_openmp_detection_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path))
    compiler = c_build.find_compiler()
    monkeypatch.setattr(c_build, "_OPENMP", {})
    flags = c_build.flags(compiler)
    assert ("-fopenmp" in flags) != ("-fopenmp-simd" in flags)
    markers = list((tmp_path / "c").glob("openmp-*.json"))
    assert len(markers) == 1
    monkeypatch.setattr(c_build, "_OPENMP", {})
    monkeypatch.setattr(c_build, "_probe_openmp", lambda c: pytest.fail("probed again"))
    assert c_build.flags(compiler) == flags
