"""C drivers against the NumPy drivers (same semantics; docs/architecture.md), the HH
reference spike times, blow-up reporting, and every library model through simulate().
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from biosnn.codegen import c_backend, c_build
from biosnn.errors import MethodError, SimulationError
from biosnn.solvers.request import ADAPTIVE, FIXED_STEP, STIFF, RawRun, RunRequest
from biosnn.stimulus import Stimulus

sys.path.insert(0, str(Path(__file__).parent))
import test_c_specs as S

DATA = Path(__file__).resolve().parents[1] / "data"
pytestmark = pytest.mark.skipif(c_build.find_compiler() is None, reason="no C compiler")


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOSNN_CACHE_DIR", str(tmp_path_factory.mktemp("ccache")))
        yield


def numpy_run(spec, req) -> RawRun:
    from biosnn.codegen.numpy_backend import NumpyKernel
    from biosnn.solvers import drivers

    return drivers.run(spec, NumpyKernel(spec), req)


def assert_agree(c: RawRun, ref: RawRun, *, ytol: float, ttol: float):
    np.testing.assert_array_equal(c.t, ref.t)
    assert c.y.shape == ref.y.shape
    scale = 1.0 + np.max(np.abs(ref.y)) if ref.y.size else 1.0
    np.testing.assert_allclose(c.y, ref.y, rtol=0, atol=ytol * scale)
    np.testing.assert_allclose(c.y_final, ref.y_final, rtol=0, atol=ytol * scale)
    np.testing.assert_array_equal(c.spike_index, ref.spike_index)
    np.testing.assert_allclose(c.spike_time, ref.spike_time, rtol=0, atol=ttol)


# -- hand-built models ------------------------------------------------------------------
def _pulse(spec, name, base, n):
    amps = base * np.linspace(0.8, 1.5, n)
    return {spec.params.index(name): Stimulus.pulse(10.0, 40.0, amps)}


def _request(spec, method, values, y0, t1, n=3, stim=None, **kw):
    fixed = method not in ADAPTIVE + STIFF
    tol = 1e-8
    return RunRequest(
        method=method,
        t0=0.0,
        t1=t1,
        dt=kw.pop("dt", 0.01 if fixed else None),
        rtol=None if fixed else tol,
        atol=None if fixed else tol,
        y0=np.array(y0, float)[:, None].repeat(n, 1),
        params=S.param_array(spec, values, n),
        stimuli=stim or {},
        record_states=tuple(range(spec.n_states)),
        record_every=10,
        record_dt=0.1,
        **kw,
    )


def _lif(method):
    spec = S.lif_spec()
    return spec, _request(
        spec, method, S.LIF_PARAMS, [-70.0], 100.0, stim=_pulse(spec, "I", 250.0, 3)
    )


def _hh(method):
    spec = S.hh_spec()
    return spec, _request(
        spec, method, S.HH_PARAMS, S.HH_Y0, 60.0, stim=_pulse(spec, "I_ext", 10.0, 3)
    )


def _izh(method):
    spec = S.izh_spec()
    return spec, _request(spec, method, S.IZH_PARAMS, [-65.0, -13.0], 100.0)


def _lif_refcond_ramp(method):
    base = S.lif_spec()
    v = sp.Symbol("v", real=True)
    spec = dataclasses.replace(
        base, refractory_time=None, refractory_condition=v < -60, key=base.key + "-refcond"
    )
    ramp = Stimulus.linear(
        [0, 50, 100], np.array([[0, 0, 0], [300, 400, 500], [100, 200, 600]], float)
    )
    return spec, _request(spec, method, S.LIF_PARAMS, [-70.0], 100.0, stim={2: ramp})


CASES = {"lif": _lif, "hh": _hh, "izh": _izh, "lif_refcond_ramp": _lif_refcond_ramp}
DETERMINISTIC = ("euler", "midpoint", "heun", "rk4", "exponential_euler") + ADAPTIVE + STIFF


# v of the Izhikevich model is not conditionally linear: no exponential Euler for it.
CASE_METHODS = [
    (case, method)
    for case in sorted(CASES)
    for method in DETERMINISTIC
    if not (case == "izh" and method == "exponential_euler")
]


@pytest.mark.parametrize("case,method", CASE_METHODS)
def test_c_matches_numpy(case, method):
    spec, req = CASES[case](method)
    c, ref = c_backend.run(spec, req), numpy_run(spec, req)
    again = numpy_run(spec, req)
    # the reference itself must be reproducible, or the comparison means nothing
    np.testing.assert_array_equal(ref.y, again.y)
    fixed = method in FIXED_STEP
    assert_agree(c, ref, ytol=1e-9 if fixed else 1e-5, ttol=1e-9 if fixed else 1e-6)
    assert len(c.spike_time) > 0
    if fixed:
        assert c.stats["n_rhs"] == ref.stats["n_rhs"]
    assert c.stats["n_steps"] == pytest.approx(ref.stats["n_steps"], rel=0.02)


@pytest.mark.parametrize("method", ["euler_maruyama", "stochastic_heun"])
def test_c_matches_numpy_noise(method):
    spec = S.ou_spec()
    req = _request(spec, method, S.OU_PARAMS, [0.0], 200.0, n=4, dt=0.05, seed=42)
    c, ref = c_backend.run(spec, req), numpy_run(spec, req)
    assert_agree(c, ref, ytol=1e-10, ttol=1e-10)
    assert len(c.spike_time) > 10


def test_exact_matches_numpy():
    import scipy.linalg

    spec = S.linear_spec()
    dt = 0.1
    M = np.zeros((3, 3))
    M[:2, :2] = [[-1 / 5, 1], [0, -1 / 3]]
    M[:2, 2] = [0, 2.0]
    prop = scipy.linalg.expm(M * dt)[None]
    req = _request(spec, "exact", S.LIN_PARAMS, [1.0, 0.5], 20.0, dt=dt, propagator=prop)
    c, ref = c_backend.run(spec, req), numpy_run(spec, req)
    assert_agree(c, ref, ytol=1e-12, ttol=0)
    # and the analytic solution at t1 (rk45 at tight tolerance as reference)
    req2 = _request(spec, "rk45", S.LIN_PARAMS, [1.0, 0.5], 20.0)
    req2.rtol = req2.atol = 1e-11
    np.testing.assert_allclose(c.y_final, c_backend.run(spec, req2).y_final, rtol=1e-9)


def test_spike_buffer_grows_without_losing_spikes():
    spec = S.lif_spec()
    values = dict(S.LIF_PARAMS, tref=0.0, I=2000.0)
    for method, dt in (("rk4", 0.01), ("rk45", None)):
        req = _request(spec, method, values, [-70.0], 300.0, n=40, dt=dt)
        c, ref = c_backend.run(spec, req), numpy_run(spec, req)
        assert len(c.spike_time) > 4 * 1024  # several growths of the initial buffer
        assert_agree(c, ref, ytol=1e-5, ttol=1e-6)


def test_hh_reference_spike_times_dop853():
    ref = json.loads((DATA / "hh_I10_1000ms.json").read_text())
    spec = S.hh_spec()
    req = RunRequest(
        method="dop853",
        t0=0.0,
        t1=ref["t_end"],
        dt=None,
        rtol=1e-9,
        atol=1e-9,
        y0=np.array(ref["y0 (V, m, h, n)"])[:, None],
        params=S.param_array(spec, S.HH_PARAMS, 1),
        record_states=(0,),
    )
    out = c_backend.run(spec, req)
    assert len(out.spike_time) == ref["n_spikes"] == 69
    np.testing.assert_allclose(out.spike_time, ref["spike_times"], rtol=0, atol=1e-4)


@pytest.mark.parametrize("method", ["rk4", "rk45", "rodas4"])
def test_blow_up_names_time_instance_variable(method):
    x = sp.Symbol("x", real=True)
    spec = S.make_spec("blow", ["x"], [], [x**2], tag="blow")
    req = RunRequest(
        method=method,
        t0=0.0,
        t1=2.0,
        dt=0.001,
        rtol=1e-6,
        atol=1e-6,
        y0=np.array([[0.1, 1.0]]),
        params=np.zeros((0, 2)),
        record_states=(0,),
    )
    if method != "rk4":
        req.dt = None
    with pytest.raises(SimulationError, match=r"instance 1.*'x'|'x'.*instance 1") as info:
        c_backend.run(spec, req)
    assert "t = " in str(info.value)


def test_adaptive_requires_tolerances_and_refuses_noise():
    spec, req = _lif("rk45")
    req.rtol = None
    with pytest.raises(MethodError, match="rtol"):
        c_backend.run(spec, req)
    spec = S.ou_spec()
    req = _request(spec, "rk45", S.OU_PARAMS, [0.0], 10.0)
    with pytest.raises(MethodError, match="noise"):
        c_backend.run(spec, req)


# -- every library model, through simulate() -----------------------------------------
def _library():
    import biosnn

    return [name for name, _ in biosnn.list_models()]


LIBRARY = _library()
LIB_METHODS = (
    "euler",
    "rk4",
    "exponential_euler",
    "euler_maruyama",
    "stochastic_heun",
    "exact",
    "rk23",
    "rk45",
    "dop853",
    "rodas4",
)


@pytest.mark.parametrize("method", LIB_METHODS)
@pytest.mark.parametrize("name", LIBRARY)
def test_library_model_c_matches_numpy(name, method):
    import biosnn

    model = biosnn.load_model(name)
    spec = model.kernel_spec()
    adaptive = method in ADAPTIVE + STIFF
    dimensionless = spec.time_dimensionless
    kw = {"method": method, "n": 2, "seed": 3}
    if adaptive:
        kw.update(rtol=1e-8, atol=1e-8)
    else:
        kw.update(dt=0.01)
    duration = 20.0
    try:
        ref = biosnn.simulate(model, duration, backend="numpy", **kw)
    except MethodError as exc:
        # a method that does not apply is refused the same way whatever the backend
        with pytest.raises(MethodError) as c_exc:
            biosnn.simulate(model, duration, backend="c", **kw)
        assert str(c_exc.value) == str(exc)
        assert "does not apply" in str(exc) or "needs" in str(exc)
        return
    res = biosnn.simulate(model, duration, backend="c", **kw)
    assert res.stats["backend"] == "c"
    tol = 1e-5 if adaptive else 1e-8
    for var in res.units:
        a, b = np.asarray(res[var]), np.asarray(ref[var])
        np.testing.assert_allclose(
            a, b, rtol=0, atol=tol * (1 + np.max(np.abs(b))), err_msg=f"{name} {method} {var}"
        )
    for sc, sn in zip(res.spikes, ref.spikes, strict=True):
        assert len(sc) == len(sn)
        np.testing.assert_allclose(sc, sn, rtol=0, atol=1e-6 if adaptive else 1e-9)
    del dimensionless
