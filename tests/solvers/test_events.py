"""Thresholds, resets, refractoriness and stimuli, against analytic results.

LIF: dV/dt = (EL - V + R*I)/tau from V(0) = Vr with constant suprathreshold input spikes
at T = tau*ln((EL + R*I - Vr)/(EL + R*I - Vt)) and then every T + tref (V held at Vr
while refractory).  Hodgkin-Huxley: the reference spike times of tests/data (scipy DOP853
at rtol = atol = 1e-12, cross-checked with Radau and CVODE).
"""

import math

import numpy as np
import pytest
from conftest import LIF_PARAMS, hh_reference, hh_spec, lif_spec, make_spec, run_spec

P = LIF_PARAMS
T_ISI = P["tau"] * math.log(
    (P["EL"] + P["R"] * P["I"] - P["Vr"]) / (P["EL"] + P["R"] * P["I"] - P["Vt"])
)


def lif_params(**over):
    d = dict(P, **over)
    return [d[k] for k in ("EL", "R", "I", "tau", "Vt", "Vr", "tref")]


def lif_expected(t_end, tref):
    out, t = [], T_ISI
    while t <= t_end:
        out.append(t)
        t += tref + T_ISI
    return np.array(out)


@pytest.mark.parametrize(
    "method,tol,accuracy",
    [("rk45", 1e-12, 1e-6), ("dop853", 1e-12, 1e-6), ("rk23", 1e-9, 1e-4), ("rodas4", 1e-10, 1e-5)],
)
@pytest.mark.parametrize("refractory", [False, True])
def test_lif_spike_times_adaptive(method, tol, accuracy, refractory):
    spec = lif_spec(refractory=refractory)
    tref = P["tref"] if refractory else 0.0
    raw = run_spec(spec, method, 100.0, [P["Vr"]], lif_params(), rtol=tol, atol=tol, record_dt=1.0)
    expected = lif_expected(100.0, tref)
    assert raw.spike_time.size == expected.size
    np.testing.assert_allclose(raw.spike_time, expected, atol=accuracy, rtol=0)


def test_lif_refractory_holds_v():
    spec = lif_spec(refractory=True)
    raw = run_spec(
        spec, "rk45", 40.0, [P["Vr"]], lif_params(), rtol=1e-10, atol=1e-10, record_dt=0.05
    )
    t, v = raw.t, raw.y[0, 0]
    ts = raw.spike_time[0]
    held = (t > ts) & (t < ts + P["tref"])
    assert held.sum() > 30
    assert np.all(v[held] == P["Vr"])
    after = (t > ts + P["tref"] + 0.01) & (t < raw.spike_time[1])
    assert np.all(v[after] > P["Vr"])


def test_fixed_step_reset_and_refractory():
    """Fixed step: reset at the end of the spike step; held while t_n + dt/2 < t_s + tref."""
    dt = 0.1
    spec = lif_spec(refractory=True)
    raw = run_spec(spec, "rk4", 40.0, [P["Vr"]], lif_params(), dt=dt, record_every=1)
    t, v = raw.t, raw.y[0, 0]
    ts = raw.spike_time[0]
    assert abs(ts - T_ISI) < 1e-3  # linear interpolation
    k_spike = int(np.ceil(ts / dt - 1e-9))  # the step ending after ts
    assert v[k_spike] == P["Vr"]  # reset at the step end
    for k in range(k_spike, k_spike + 40):
        refractory = t[k] + dt / 2 < ts + P["tref"]
        if refractory:
            assert v[k + 1] == P["Vr"]
        else:
            assert v[k + 1] > P["Vr"]
            break
    else:
        pytest.fail("refractoriness never ended")


def test_no_spike_at_t0_and_upward_crossings_only():
    # starts above threshold: no spike at t0; V decays below then is driven up again?
    spec = lif_spec()
    raw = run_spec(spec, "rk45", 5.0, [-40.0], lif_params(I=0.0), rtol=1e-8, atol=1e-8)
    assert raw.spike_time.size == 0


def _osc_spec(threshold, **kw):
    """X = sin t, y = cos t."""
    return make_spec("osc", {"x": "y", "y": "-x"}, threshold=threshold, **kw)


K = np.arange(5)
UP = np.pi / 6 + 2 * np.pi * K  # upward crossings of x = 0.5


@pytest.mark.parametrize(
    "method,kw,tol",
    [
        ("rk4", {"dt": 0.01}, 2e-5),  # linear interpolation: O(dt**2)
        ("rk45", {"rtol": 1e-10, "atol": 1e-10}, 1e-8),
        ("dop853", {"rtol": 1e-10, "atol": 1e-10}, 1e-8),
        ("rodas4", {"rtol": 1e-10, "atol": 1e-10}, 1e-7),
    ],
)
def test_refractory_condition(method, kw, tol):
    """Refractory while t < 8 after the spike at pi/6 blocks the crossing at 2*pi + pi/6."""
    spec = _osc_spec("x > 0.5", refractory_condition="t < 8")
    raw = run_spec(spec, method, 30.0, [0.0, 1.0], record_dt=1.0, **kw)
    np.testing.assert_allclose(raw.spike_time, UP[[0, 2, 3, 4]], atol=tol)


def test_compound_threshold_bisection():
    """A compound condition is located by bisection on the boolean (adaptive)."""
    spec = _osc_spec("(x > 0.5) & (y > 0)")
    raw = run_spec(spec, "rk45", 30.0, [0.0, 1.0], rtol=1e-10, atol=1e-10, record_dt=1.0)
    np.testing.assert_allclose(raw.spike_time, UP, atol=1e-8)
    raw = run_spec(spec, "rk4", 14.0, [0.0, 1.0], dt=0.1, record_every=10)
    # fixed step: the spike time is the end of the step
    np.testing.assert_allclose(raw.spike_time, [0.6, 6.9, 13.1], atol=1e-9)


def test_reset_sequence_sees_earlier_assignments():
    """Reset 'v = 0; w = w + v' uses the new v (Izhikevich-style ordering)."""
    spec = make_spec(
        "seq", {"v": "1", "w": "0"}, threshold="v > 1", reset=[("v", "0"), ("w", "w + v + 1")]
    )
    raw = run_spec(spec, "rk45", 3.5, [0.0, 0.0], rtol=1e-9, atol=1e-9, record_dt=0.5)
    np.testing.assert_allclose(raw.spike_time, [1.0, 2.0, 3.0], atol=1e-9)
    assert raw.y_final[1, 0] == 3.0  # w += 0 + 1 at each spike
    np.testing.assert_allclose(raw.y_final[0, 0], 0.5, atol=1e-9)


# --------------------------------------------------------------------------------------
# Hodgkin-Huxley reference
# --------------------------------------------------------------------------------------
def _hh_params(ref):
    P_ = ref["params"]
    return [P_["C"], P_["gNa"], P_["gK"], P_["gL"], P_["ENa"], P_["EK"], P_["EL"], ref["I_ext"]]


@pytest.mark.parametrize("method", ["rk45", "dop853"])
def test_hh_reference_spike_times(method):
    ref = hh_reference()
    raw = run_spec(
        hh_spec(),
        method,
        ref["t_end"],
        ref["y0 (V, m, h, n)"],
        _hh_params(ref),
        rtol=1e-9,
        atol=1e-9,
        record_dt=10.0,
    )
    expected = np.array(ref["spike_times"])
    assert raw.spike_time.size == ref["n_spikes"] == 69
    np.testing.assert_allclose(raw.spike_time, expected, atol=1e-4, rtol=0)


def test_hh_fixed_step_rk4_short():
    ref = hh_reference()
    raw = run_spec(
        hh_spec(), "rk4", 100.0, ref["y0 (V, m, h, n)"], _hh_params(ref), dt=0.01, record_every=100
    )
    expected = np.array(ref["spike_times"])
    expected = expected[expected < 100]
    np.testing.assert_allclose(raw.spike_time, expected, atol=1e-3)


# --------------------------------------------------------------------------------------
# stimuli
# --------------------------------------------------------------------------------------
def _integrator_spec():
    return make_spec("integrator", {"v": "I"}, ("I",))


def test_stimulus_at_stage_times_fixed_step():
    from biosnn.stimulus import Stimulus

    stim = Stimulus.step([-np.inf, 0.55], [0.0, 1.0])
    spec = _integrator_spec()
    raw = run_spec(spec, "euler", 1.0, [0.0], [0.0], dt=0.1, stimuli={0: stim}, record_every=1)
    # Euler sees I at t_k: steps starting at 0.6, 0.7, 0.8, 0.9
    assert raw.y_final[0, 0] == pytest.approx(0.4, abs=1e-14)
    raw = run_spec(spec, "rk4", 0.6, [0.0], [0.0], dt=0.1, stimuli={0: stim}, record_every=1)
    # the step [0.5, 0.6] has stages at 0.5, 0.55, 0.55, 0.6 -> (0 + 2 + 2 + 1)/6 * dt
    assert raw.y_final[0, 0] == pytest.approx(0.1 * 5 / 6, abs=1e-14)


@pytest.mark.parametrize("method", ["rk45", "dop853", "rk23", "rodas4"])
def test_stimulus_breakpoints_adaptive(method):
    """A current pulse into a leaky integrator: exact to tolerance, steps land on 10, 30."""
    from biosnn.stimulus import Stimulus

    spec = make_spec("leaky", {"v": "(-v + I)/tau"}, ("I", "tau"))
    stim = Stimulus.pulse(10.0, 30.0, 2.0)
    tol = 1e-10
    raw = run_spec(
        spec, method, 50.0, [0.0], [0.0, 5.0], rtol=tol, atol=tol, stimuli={0: stim}, record_dt=0.5
    )
    t = raw.t
    on = np.clip(t - 10, 0, 20)
    v_on = 2.0 * (1 - np.exp(-on / 5.0))
    exact = np.where(t <= 30, v_on, v_on * np.exp(-(t - 30) / 5.0))
    np.testing.assert_allclose(raw.y[0, 0], exact, atol=1e-7)
    assert raw.stats["n_rejected"] <= 10


def test_linear_stimulus_ramp():
    from biosnn.stimulus import Stimulus

    stim = Stimulus.linear([0.0, 10.0], [0.0, 1.0])
    spec = _integrator_spec()
    raw = run_spec(
        spec, "rk45", 20.0, [0.0], [0.0], rtol=1e-10, atol=1e-10, stimuli={0: stim}, record_dt=1.0
    )
    t = raw.t
    exact = np.where(t <= 10, t**2 / 20, 5 + (t - 10))
    np.testing.assert_allclose(raw.y[0, 0], exact, atol=1e-8)


def test_per_instance_params_and_stimulus_columns():
    from biosnn.stimulus import Stimulus

    spec = _integrator_spec()
    stim = Stimulus.step([-np.inf, 1.0], [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    raw = run_spec(
        spec,
        "rk45",
        2.0,
        [0.0],
        [0.0],
        n=3,
        rtol=1e-10,
        atol=1e-10,
        stimuli={0: stim},
        record_dt=1.0,
    )
    np.testing.assert_allclose(raw.y_final[0], [1.0, 2.0, 3.0], atol=1e-9)


@pytest.mark.parametrize(
    "method,t_end", [("rk45", 20.0), ("dop853", 20.0), ("rk23", 6.0), ("rodas4", 6.0)]
)
def test_instances_have_their_own_steps(method, t_end):
    """Vectorised adaptive run == separate runs (lock-step masking, partial acceptance,
    dense output of a subset of instances).
    """
    ref = hh_reference()
    Is = [8.0, 10.0, 14.0]
    params = np.array([_hh_params(ref)[:-1] + [i] for i in Is]).T
    y0 = ref["y0 (V, m, h, n)"]
    raw = run_spec(hh_spec(), method, t_end, y0, params, n=3, rtol=1e-8, atol=1e-8, record_dt=0.5)
    for i in range(3):
        single = run_spec(
            hh_spec(), method, t_end, y0, params[:, i], rtol=1e-8, atol=1e-8, record_dt=0.5
        )
        np.testing.assert_allclose(
            raw.spike_time[raw.spike_index == i], single.spike_time, rtol=0, atol=1e-7
        )
        np.testing.assert_allclose(raw.y[:, i], single.y[:, 0], rtol=0, atol=1e-5)


def test_blow_up_names_time_instance_variable():
    from biosnn.errors import SimulationError

    spec = make_spec("boom", {"u": "u**2"})
    with pytest.raises(SimulationError, match=r"instance 1.*'u'"):
        run_spec(spec, "euler", 10.0, [[0.1, 2.0]], dt=0.1)
    with pytest.raises(SimulationError, match=r"t = .*instance 0"):
        run_spec(spec, "rk45", 10.0, [1.0], rtol=1e-6, atol=1e-6)
