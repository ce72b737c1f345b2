"""Measured convergence orders on problems with known solutions.

Problems: y' = cos(t)*y, y(0) = 1 -> y = exp(sin t) (non-autonomous, nonlinear solution);
the logistic equation y' = y*(1 - y), y(0) = 0.1 -> y = 1/(1 + 9 exp(-t)).  Slopes of
log(error) against log(dt) must be within +-0.2 of the theoretical order (the orders of
the methods, HNW I).  The embedded adaptive methods are run here with fixed steps through
their step function to measure their order; their tolerance behaviour is tested through
the driver.
"""

import numpy as np
import pytest
from conftest import _kernel, make_spec, run_spec

from biosnn.solvers.drivers import Problem
from biosnn.solvers.drivers.erk import _dense_eval, _ERKStep
from biosnn.solvers.drivers.rosenbrock import _RosenbrockStep
from biosnn.solvers.request import RunRequest
from biosnn.solvers.tableaux import ROSENBROCK, TABLEAUX

COS = make_spec("cosy", {"y": "cos(t)*y"})
LOGISTIC = make_spec("logistic", {"y": "y*(1 - y)"})
T_END = 2.0


def exact_cos(t):
    return np.exp(np.sin(t))


def slope(dts, errs):
    return np.polyfit(np.log(dts), np.log(errs), 1)[0]


@pytest.mark.parametrize(
    "method,order,dts",
    [
        ("euler", 1, [0.02, 0.01, 0.005]),
        ("midpoint", 2, [0.04, 0.02, 0.01]),
        ("heun", 2, [0.04, 0.02, 0.01]),
        ("rk4", 4, [0.2, 0.1, 0.05]),
        ("exponential_euler", 1, [0.02, 0.01, 0.005]),
        ("euler_maruyama", 1, [0.02, 0.01, 0.005]),  # no noise: Euler
        ("stochastic_heun", 2, [0.04, 0.02, 0.01]),  # no noise: Heun
    ],
)
def test_fixed_step_order(method, order, dts):
    errs = []
    for dt in dts:
        raw = run_spec(COS, method, T_END, [1.0], dt=dt, record_every=1000, seed=1)
        errs.append(abs(raw.y_final[0, 0] - exact_cos(T_END)))
    assert slope(dts, errs) == pytest.approx(order, abs=0.2)


def test_fixed_step_order_logistic_rk4():
    errs, dts = [], [0.4, 0.2, 0.1]
    for dt in dts:
        raw = run_spec(LOGISTIC, "rk4", 4.0, [0.1], dt=dt, record_every=1000)
        errs.append(abs(raw.y_final[0, 0] - 1 / (1 + 9 * np.exp(-4.0))))
    assert slope(dts, errs) == pytest.approx(4, abs=0.2)


def test_exact_is_exact():
    """Damped oscillator x'' = -x - 0.2 x' as a linear system: error at round-off."""
    import scipy.linalg

    spec = make_spec("osc", {"x": "v", "v": "-x - 0.2*v"})
    A = np.array([[0, 1.0], [-1.0, -0.2]])
    dt = 0.1
    M = np.zeros((3, 3))
    M[:2, :2] = A
    raw = run_spec(
        spec,
        "exact",
        10.0,
        [1.0, 0.0],
        dt=dt,
        propagator=scipy.linalg.expm(M * dt)[None],
        record_every=1000,
    )
    expected = scipy.linalg.expm(A * 10.0) @ [1.0, 0.0]
    np.testing.assert_allclose(raw.y_final[:, 0], expected, atol=1e-12)


def _fixed_embedded(method, h, t_end, spec=COS, y0=1.0):
    """Integrate with the adaptive method's step function at a fixed step h."""
    req = RunRequest(
        method=method,
        t0=0.0,
        t1=t_end,
        dt=h,
        rtol=1.0,
        atol=1.0,
        y0=np.array([[y0]]),
        params=np.zeros((0, 1)),
    )
    prob = Problem(spec, _kernel(spec), req)
    stepper = (
        _RosenbrockStep(prob, ROSENBROCK[method])
        if method in ROSENBROCK
        else _ERKStep(prob, TABLEAUX[method])
    )
    y, t = np.array([[y0]]), 0.0
    for _ in range(round(t_end / h)):
        y, _, _ = stepper.attempt(np.array([t]), np.array([h]), y, None, None, None)
        t += h
    return y[0, 0]


@pytest.mark.parametrize(
    "method,order,hs,t_end",
    [
        ("rk23", 3, [0.1, 0.05, 0.025], 4.0),
        ("rk45", 5, [0.2, 0.1, 0.05], 8.0),
        ("dop853", 8, [0.8, 0.4, 0.2], 4.0),
    ],
)
def test_embedded_method_order(method, order, hs, t_end):
    errs = [abs(_fixed_embedded(method, h, t_end) - exact_cos(t_end)) for h in hs]
    assert slope(hs, errs) == pytest.approx(order, abs=0.2)


def test_rodas4_order():
    """On the logistic equation (on y' = cos(t)*y RODAS4 happens to converge faster)."""
    hs = [0.2, 0.1, 0.05]
    exact = 1 / (1 + 9 * np.exp(-4.0))
    errs = [abs(_fixed_embedded("rodas4", h, 4.0, LOGISTIC, 0.1) - exact) for h in hs]
    assert slope(hs, errs) == pytest.approx(4, abs=0.2)


@pytest.mark.parametrize(
    "method,order,hs",
    [
        ("rk23", 3, [0.4, 0.2, 0.1]),
        ("rk45", 4, [0.4, 0.2, 0.1]),
        ("dop853", 7, [0.5, 0.25, 0.125]),
        ("rodas4", 3, [0.4, 0.2, 0.1]),
    ],
)
def test_dense_output_order(method, order, hs):
    """One step from t0 = 0.3: max error of the interpolant ~ h**(order + 1)."""
    t0 = 0.3
    errs = []
    for h in hs:
        req = RunRequest(
            method=method,
            t0=0.0,
            t1=1.0,
            dt=h,
            rtol=1.0,
            atol=1.0,
            y0=np.array([[exact_cos(t0)]]),
            params=np.zeros((0, 1)),
        )
        prob = Problem(COS, _kernel(COS), req)
        stepper = (
            _RosenbrockStep(prob, ROSENBROCK[method])
            if method in ROSENBROCK
            else _ERKStep(prob, TABLEAUX[method])
        )
        y = np.array([[exact_cos(t0)]])
        t, hh = np.array([t0]), np.array([h])
        y1, _, K = stepper.attempt(t, hh, y, None, None, None)
        stepper.finish(t, hh, y, y1, None, None, K)
        stepper.dense_increments(t, hh, y, None, None, K)
        thetas = np.linspace(0.1, 0.9, 9)
        vals = [_dense_eval(stepper.dense, y, K, np.array([th]))[0, 0] for th in thetas]
        errs.append(
            max(abs(v - exact_cos(t0 + th * h)) for v, th in zip(vals, thetas, strict=True))
        )
    assert slope(hs, errs) == pytest.approx(order + 1, abs=0.3)


@pytest.mark.parametrize("method", ["rk23", "rk45", "dop853", "rodas4"])
def test_adaptive_error_follows_tolerance(method):
    """Global error decreases with the tolerance and stays within 100*tol."""
    errs = []
    tols = [1e-5, 1e-7, 1e-9]
    for tol in tols:
        raw = run_spec(COS, method, 10.0, [1.0], rtol=tol, atol=tol, record_dt=1.0)
        t = raw.t
        err = np.max(np.abs(raw.y[0, 0] - exact_cos(t)))
        errs.append(err)
        assert err < 100 * tol
    assert errs[0] > errs[1] > errs[2]
    # records come from the dense output at exactly t0 + k*record_dt
    np.testing.assert_allclose(raw.t, np.arange(11.0))
