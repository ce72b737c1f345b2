"""The single-instance screen on Python floats finds the same spikes as the array path.

A run with one instance (or one instance left) screens each accepted step on Python
floats, rebuilding the affine crossing from its coefficients instead of calling the
kernel (``_AdaptiveRun._screen_one``, see :mod:`biosnn.solvers.events`).  It may only
skip steps the exact search finds empty, so every spike time must be bit-for-bit those of
the same run with the screen disabled (every step through the array path).

References: the harmonic oscillator of tests/solvers/test_event_search.py (analytic
``x = sin(t/2)``: 16 upward crossings of 0.999 in [0, 200]) and the Hodgkin-Huxley model at
I_ext = 10 (the array path, i.e. the code before the float screen, as reference).
"""

import numpy as np
import pytest

import biosnn
from biosnn.solvers.drivers.adaptive import _AdaptiveRun

METHODS = [("rk45", 1e-6), ("dop853", 1e-6), ("rodas4", 1e-6), ("rk23", 1e-6)]


def _run(model, t_end, method, tol, params, monkeypatch, screen):
    calls = {"n": 0, "skipped": 0}
    original = _AdaptiveRun._screen_one

    def counted(self, *args):
        calls["n"] += 1
        if not screen:
            return False
        out = original(self, *args)
        calls["skipped"] += out
        return out

    with monkeypatch.context() as mp:
        mp.setattr(_AdaptiveRun, "_screen_one", counted)
        res = biosnn.simulate(
            model,
            t_end,
            method=method,
            rtol=tol,
            atol=tol,
            backend="numpy",
            params=params,
            record=[],
        )
    return [np.asarray(s).tolist() for s in res.spikes], calls


@pytest.mark.parametrize("method,tol", METHODS)
def test_oscillator_float_screen_matches_array_path(method, tol, monkeypatch):
    model = biosnn.Model(
        "dx/dt = -w*y : 1\ndy/dt = w*x : 1\nw : 1",
        params={"w": 0.5},
        init={"x": 0.0, "y": -1.0},
        threshold="x > 0.999",
    )
    fast, calls = _run(model, 200.0, method, tol, None, monkeypatch, True)
    slow, _ = _run(model, 200.0, method, tol, None, monkeypatch, False)
    assert calls["n"] > 0 and calls["skipped"] > 0  # the float screen ran and skipped
    assert fast == slow
    assert len(fast[0]) == 16  # analytic count


@pytest.mark.parametrize("method,tol", METHODS)
def test_hh_float_screen_matches_array_path(method, tol, monkeypatch):
    model = biosnn.load_model("hodgkin_huxley")
    fast, calls = _run(model, 100.0, method, tol, {"I_ext": 10.0}, monkeypatch, True)
    slow, _ = _run(model, 100.0, method, tol, {"I_ext": 10.0}, monkeypatch, False)
    assert calls["n"] > 0 and calls["skipped"] > 0
    assert fast == slow
    assert len(fast[0]) > 0
