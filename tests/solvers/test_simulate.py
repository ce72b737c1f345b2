"""simulate(): argument checks, unit handling, results (with biosnn.Model)."""

import json
import math

import numpy as np
import pytest

import biosnn
from biosnn.errors import MethodError, SimulationError
from biosnn.stimulus import Stimulus

LIF = {
    "equations": "dv/dt = (El - v + R*I)/tau : volt (unless refractory)",
    "params": {"El": "-65 mV", "R": "10 Mohm", "I": "0.2 nA", "tau": "10 ms"},
    "initial": {"v": "-65 mV"},
    "threshold": "v > -50*mV",
    "reset": "v = El",
    "refractory": "2 ms",
    "name": "lif",
}


@pytest.fixture(scope="module")
def lif():
    return biosnn.Model(**LIF)


@pytest.fixture(scope="module")
def decay():
    return biosnn.Model(
        "dv/dt = (El - v)/tau : volt",
        params={"El": "-65 mV", "tau": "10 ms"},
        initial={"v": "-50 mV"},
        name="decay",
    )


def test_lif_spike_times_through_simulate(lif):
    """R*I = 10 Mohm * 2 nA = 20 mV: T = tau*ln((20 mV)/(5 mV)), then every T + 2 ms."""
    res = biosnn.simulate(
        lif, 100, method="rk45", rtol=1e-12, atol=1e-12, params={"I": "2 nA"}, backend="numpy"
    )
    T = 10 * math.log(20 / 5)
    expected = T + (T + 2.0) * np.arange(6)
    np.testing.assert_allclose(res.spikes[0], expected, atol=1e-6)
    assert res.units["v"] == "mV"
    assert res.stats["backend"] == "numpy" and res.stats["method"] == "rk45"


def test_params_arrays_strings_and_stimulus(lif):
    res = biosnn.simulate(
        lif, 50, method="rk4", dt=0.01, n=3, backend="numpy", params={"I": [1.0, "2 nA", 3.0]}
    )
    counts = [len(s) for s in res.spikes]
    assert counts[0] < counts[1] < counts[2]
    assert res["v"].shape == (3, res.t.size)
    stim = Stimulus.pulse(10, 30, 2.0)  # nA
    res = biosnn.simulate(
        lif, 50, method="rk45", rtol=1e-9, atol=1e-9, backend="numpy", params={"I": stim}
    )
    assert res.spikes[0].size and res.spikes[0][0] > 10 and res.spikes[0][-1] < 30


def test_units_of_duration_dt_and_init(decay):
    res = biosnn.simulate(
        decay, "0.01 s", method="rk4", dt="0.01 ms", backend="numpy", init={"v": "-0.06 V"}
    )
    assert res.t[-1] == pytest.approx(10.0)
    assert res["v"][0, 0] == pytest.approx(-60.0)
    assert res.final_state["v"][0] == pytest.approx(-65 + 5 * math.exp(-1), abs=1e-8)


def test_exact_and_exponential_euler_on_linear_model(decay):
    for method in ("exact", "exponential_euler"):
        res = biosnn.simulate(decay, 10, method=method, dt=0.5, backend="numpy")
        assert res.final_state["v"][0] == pytest.approx(-65 + 15 * math.exp(-1), abs=1e-10)


def test_recording_adaptive_and_fixed(decay):
    res = biosnn.simulate(
        decay, 10, method="rk45", rtol=1e-10, atol=1e-12, record_dt=0.5, backend="numpy"
    )
    np.testing.assert_allclose(res.t, np.arange(21) * 0.5)
    np.testing.assert_allclose(res.v[0], -65 + 15 * np.exp(-res.t / 10), atol=1e-8)
    res = biosnn.simulate(decay, 1, method="euler", dt=0.1, record_dt=0.3, backend="numpy")
    np.testing.assert_allclose(res.t, [0.0, 0.3, 0.6, 0.9])


def test_result_to_dict_and_repr(lif):
    res = biosnn.simulate(lif, 20, params={"I": "2 nA"}, method="rk4", dt=0.01, backend="numpy")
    d = json.loads(json.dumps(res.to_dict()))
    assert d["units"]["v"] == "mV" and len(d["spikes"][0]) == 1
    assert "lif" in repr(res) and "1 spike" in repr(res)


def test_plot_lazily_imports_matplotlib(decay):
    import matplotlib

    matplotlib.use("Agg")
    res = biosnn.simulate(decay, 5, method="rk4", dt=0.1, backend="numpy")
    ax = res.plot()
    assert ax.get_ylabel() == "v (mV)"


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------
def test_unknown_method_lists_methods(decay):
    with pytest.raises(MethodError, match=r"unknown method 'rk5'.*rk45.*rodas4"):
        biosnn.simulate(decay, 10, method="rk5")


def test_adaptive_needs_tolerances_and_says_what_to_type(decay):
    with pytest.raises(MethodError, match=r"rtol=1e-6, atol=1e-9"):
        biosnn.simulate(decay, 10, method="rk45")
    with pytest.raises(MethodError, match=r"rtol=1e-6, atol=1e-9"):
        biosnn.simulate(decay, 10, method="rodas4", rtol=1e-6)


def test_bad_dt_and_duration(decay):
    with pytest.raises(SimulationError, match="dt must be positive"):
        biosnn.simulate(decay, 10, dt=0)
    with pytest.raises(SimulationError, match="dt must be positive"):
        biosnn.simulate(decay, 10, dt=-0.1)
    with pytest.raises(SimulationError, match="must not be negative"):
        biosnn.simulate(decay, -1)


def test_exponential_euler_refuses_nonlinear_state():
    m = biosnn.Model("dv/dt = v**2/ms : 1\ndw/dt = -w/ms : 1", name="nl")
    with pytest.raises(MethodError, match=r"exponential_euler.*'v'"):
        biosnn.simulate(m, 1, method="exponential_euler", dt=0.1)


def test_exact_refuses_nonlinear_model():
    m = biosnn.Model("dv/dt = -v**3/ms : 1", name="cubic")
    with pytest.raises(MethodError, match="exact"):
        biosnn.simulate(m, 1, method="exact", dt=0.1)


def test_noise_refused_by_deterministic_methods_but_sde_methods_accept_noise_free():
    noisy = biosnn.Model(
        "dv/dt = -v/tau + sigma*xi/sqrt(tau) : volt",
        params={"tau": "10 ms", "sigma": "1 mV"},
        name="ou",
    )
    for method, kw in (
        ("rk45", {"rtol": 1e-6, "atol": 1e-9}),
        ("rodas4", {"rtol": 1e-6, "atol": 1e-9}),
        ("rk4", {}),
    ):
        with pytest.raises(MethodError, match="noise"):
            biosnn.simulate(noisy, 1, method=method, **kw)
    res = biosnn.simulate(noisy, 1, method="euler_maruyama", dt=0.01, seed=1, backend="numpy")
    assert res.stats["seed"] == 1
    quiet = biosnn.Model("dv/dt = -v/tau : volt", params={"tau": "10 ms"}, name="quiet")
    res = biosnn.simulate(quiet, 1, method="stochastic_heun", dt=0.01, backend="numpy")
    assert np.isfinite(res["v"]).all()


def test_blow_up_is_a_simulation_error():
    m = biosnn.Model("dv/dt = v**2/ms : 1", initial={"v": 1.0}, name="boom")
    with pytest.raises(SimulationError, match=r"instance 0.*'v'"):
        biosnn.simulate(m, 10, method="rk4", dt=0.01, backend="numpy")


def test_unknown_record_and_param(decay):
    with pytest.raises(SimulationError, match="cannot record 'w'"):
        biosnn.simulate(decay, 1, record=["w"])
    with pytest.raises(biosnn.BiosnnError):
        biosnn.simulate(decay, 1, params={"taux": 3})


def test_backends_agree_when_c_is_available(lif):
    from biosnn.codegen import c_backend

    if not c_backend.available():
        pytest.skip("no C compiler")
    kw = {"params": {"I": "2 nA"}, "method": "rk45", "rtol": 1e-10, "atol": 1e-10}
    a = biosnn.simulate(lif, 60, backend="numpy", **kw)
    b = biosnn.simulate(lif, 60, backend="c", **kw)
    np.testing.assert_allclose(a.spikes[0], b.spikes[0], atol=1e-7)
    np.testing.assert_allclose(a["v"], b["v"], atol=1e-6)


def test_library_hodgkin_huxley_matches_reference():
    """The library HH model (rewritten rate functions, Model units) on the NumPy driver."""
    import pathlib

    ref = json.loads(
        (pathlib.Path(__file__).parents[1] / "data" / "hh_I10_1000ms.json").read_text()
    )
    hh = biosnn.load_model("hodgkin_huxley")
    res = biosnn.simulate(
        hh,
        200,
        method="dop853",
        rtol=1e-9,
        atol=1e-9,
        backend="numpy",
        params={"I_ext": 10},
        init=dict(zip(hh.states, ref["y0 (V, m, h, n)"], strict=True)),
        record_dt=1.0,
    )
    expected = np.array(ref["spike_times"])
    np.testing.assert_allclose(res.spikes[0], expected[expected < 200], atol=1e-4)
    assert res.units["V"] == "mV" and res["I_Na"].shape == (1, 201)


def test_fixed_step_duration_must_be_whole_steps():
    # 5 ms is not a whole number of 3 ms steps: an error, not a silent run to 6 ms or 0 steps
    import biosnn
    from biosnn.errors import SimulationError

    m = biosnn.Model("dv/dt = -v/tau : volt", params={"tau": "10 ms"}, initial={"v": "1 mV"})
    with pytest.raises(SimulationError, match="whole number of steps"):
        biosnn.simulate(m, 5, method="rk4", dt=3, backend="numpy")
    with pytest.raises(SimulationError, match="whole number of steps"):
        biosnn.simulate(m, 5, method="rk4", dt=1000, backend="numpy")
    with pytest.raises(SimulationError, match="record_dt"):
        biosnn.simulate(m, 5, method="rk4", dt=0.1, record_dt=0.25, backend="numpy")
    res = biosnn.simulate(m, 5, method="rk4", dt=0.1, record_dt=0.5, backend="numpy")
    assert res.t[-1] == pytest.approx(5.0) and len(res.t) == 11


@pytest.mark.parametrize("backend", ["numpy", "c"])
@pytest.mark.parametrize(
    "method,kw", [("rk4", {"dt": 0.01}), ("dop853", {"rtol": 1e-8, "atol": 1e-8})]
)
def test_record_subset_records_only_what_is_asked(backend, method, kw):
    # record=[] keeps spikes and the final state but no traces; record=["V"] only V.
    hh = biosnn.load_model("hodgkin_huxley")
    full = biosnn.simulate(hh, 30, method=method, params={"I_ext": 10}, backend=backend, **kw)
    none = biosnn.simulate(
        hh, 30, method=method, params={"I_ext": 10}, backend=backend, record=[], **kw
    )
    only_v = biosnn.simulate(
        hh, 30, method=method, params={"I_ext": 10}, backend=backend, record=["V"], **kw
    )
    assert none.variables == [] and none._raw.y.shape[0] == 0
    assert only_v._raw.y.shape[0] == 1
    np.testing.assert_array_equal(only_v["V"], full["V"])
    np.testing.assert_array_equal(none.spikes[0], full.spikes[0])
    np.testing.assert_array_equal(none.final_state["V"], full.final_state["V"])
    with pytest.raises(KeyError, match="not recorded"):
        only_v["m"]


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_parameter_as_a_function_of_time_is_exact_at_rk4_stage_times(backend):
    # the same input written in the equations (sin(t/ms)) and given as a Python function of
    # t: with rk4 every stage time is a sample point, so the runs agree to rounding
    inside = biosnn.Model("dv/dt = (sin(t/ms)*mV - v)/tau : volt", params={"tau": "5 ms"})
    outside = biosnn.Model("dv/dt = (I - v)/tau : volt", params={"tau": "5 ms", "I": "0 mV"})
    a = biosnn.simulate(inside, 20, method="rk4", dt=0.05, backend=backend)
    b = biosnn.simulate(outside, 20, method="rk4", dt=0.05, backend=backend, params={"I": np.sin})
    c = biosnn.simulate(
        outside, 20, method="rk4", dt=0.05, backend=backend, params={"I": lambda t: math.sin(t)}
    )  # scalar-only function
    np.testing.assert_allclose(b["v"], a["v"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(c["v"], a["v"], rtol=0, atol=1e-12)
    with pytest.raises(SimulationError, match="function given for I failed"):
        biosnn.simulate(outside, 1, dt=0.05, params={"I": lambda t: 1 / 0})


def test_starting_above_threshold_warns_and_names_the_state():
    # spikes are upward crossings: v = 0 mV above a -50 mV threshold never crosses upward
    lif = biosnn.Model(
        "dv/dt = (El - v + R*I)/tau : volt",
        params={"El": "-65 mV", "R": "100 Mohm", "I": "0.2 nA", "tau": "10 ms"},
        threshold="v > -50*mV",
        reset="v = El",
    )
    with pytest.warns(RuntimeWarning, match=r"threshold condition already true \(v = 0 mV\)"):
        res = biosnn.simulate(lif, 50, backend="numpy")
    assert len(res.spikes[0]) == 0
    below = biosnn.simulate(lif, 50, backend="numpy", init={"v": -65})
    assert len(below.spikes[0]) > 0
