"""Step-size controllers: the PI formula of Hairer & Wanner II, IV.2 (2.43c), with the
contract's safety 0.9 and factor bounds [0.2, 10]; Hairer's initial step (HNW I, II.4).
"""

import numpy as np
import pytest

from biosnn.solvers.controllers import ConstantStep, PIController, initial_step


def test_pi_accept_formula():
    pi = PIController(order=5)
    h, err, err_old = np.array([1.0]), np.array([0.5]), np.array([0.25])
    accept, h_new = pi.propose(h, err, err_old, np.array([False]))
    assert accept[0]
    assert h_new[0] == pytest.approx(0.9 * 0.5 ** (-0.7 / 5) * 0.25 ** (0.4 / 5))


def test_pi_bounds_and_rejection():
    pi = PIController(order=5)
    acc, h_new = pi.propose(
        np.ones(4), np.array([0.0, 1e-30, 2.0, np.nan]), np.ones(4), np.zeros(4, bool)
    )
    np.testing.assert_array_equal(acc, [True, True, False, False])
    assert h_new[0] == 10.0 and h_new[1] == 10.0  # growth capped at 10
    assert h_new[2] == pytest.approx(0.9 * 2.0 ** (-1 / 5))  # rejection: I-controller
    assert h_new[3] == 0.2  # non-finite: smallest factor
    # after a rejection the next accepted step does not grow
    acc, h_new = pi.propose(np.ones(1), np.array([1e-6]), np.ones(1), np.array([True]))
    assert acc[0] and h_new[0] == 1.0
    # huge errors: factor at least 0.2
    _, h_new = pi.propose(np.ones(1), np.array([1e20]), np.ones(1), np.array([False]))
    assert h_new[0] == 0.2


def test_constant_step():
    c = ConstantStep(0.1)
    assert c.n_steps(0.0, 1.0) == 10 and c.time(0.0, 3) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        ConstantStep(0.0)


def test_initial_step_scales_with_tolerance():
    lam = -2.0

    def fun(t, y):
        return lam * y

    y0 = np.array([[1.0]])
    hs = [
        initial_step(fun, np.zeros(1), y0, lam * y0, 5, tol, tol, np.array([10.0]))[0]
        for tol in (1e-3, 1e-6, 1e-9)
    ]
    assert hs[0] > hs[1] > hs[2] > 0
    assert hs[1] / hs[2] == pytest.approx(10 ** (3 / 5), rel=0.3)
