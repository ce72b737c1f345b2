"""Models and Results pickle with the standard pickle and round-trip (before: a Result
could not be pickled - a local function of ``Model._find_layout`` and a lambda in the
Result - so ``multiprocessing`` and ``ProcessPoolExecutor`` failed).

Reference numbers: the same simulation run in this process (bit for bit).
"""

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import biosnn
from biosnn.codegen import c_build

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])


def _same(a, b):
    assert a.variables == b.variables and a.units == b.units
    np.testing.assert_array_equal(a.t, b.t)
    for name in a.variables:  # states and aliases
        np.testing.assert_array_equal(a[name], b[name])
    assert len(a.spikes) == len(b.spikes)
    for x, y in zip(a.spikes, b.spikes, strict=True):
        np.testing.assert_array_equal(x, y)
    for name in a.final_state:
        np.testing.assert_array_equal(a.final_state[name], b.final_state[name])


def test_model_round_trips():
    hh = biosnn.load_model("hodgkin_huxley").with_params(I_ext=7)
    back = pickle.loads(pickle.dumps(hh))
    assert back == hh and back.key == hh.key and back.params == hh.params
    assert back.states == hh.states and back.display_unit("I_ext") == "uA/cm**2"


@pytest.mark.parametrize("backend", BACKENDS)
def test_result_round_trips(backend):
    hh = biosnn.load_model("hodgkin_huxley")
    res = biosnn.simulate(
        hh, 20, params={"I_ext": [5.0, 10.0]}, n=2, method="rk4", dt=0.01, backend=backend
    )
    res["I_Na"]  # an alias computed before pickling
    back = pickle.loads(pickle.dumps(res))
    _same(back, res)
    assert back.stats == res.stats and back.model == hh
    fresh = pickle.loads(
        pickle.dumps(
            biosnn.simulate(
                hh, 20, params={"I_ext": [5.0, 10.0]}, n=2, method="rk4", dt=0.01, backend=backend
            )
        )
    )
    _same(fresh, res)  # aliases computed after unpickling


def test_simulate_in_new_processes():
    """A model passed by pickle to spawned workers (no memory of this process) simulates
    identically, and the Result comes back by pickle.
    """
    hh = biosnn.load_model("hodgkin_huxley")
    runs = [
        dict(params={"I_ext": 10.0}, method="rk4", dt=0.01, backend="numpy"),
        dict(params={"I_ext": 10.0}, method="rk45", rtol=1e-6, atol=1e-8, backend=BACKENDS[-1]),
    ]
    here = [biosnn.simulate(hh, 30, **kw) for kw in runs]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        there = [
            f.result(timeout=300)
            for f in [pool.submit(biosnn.simulate, hh, 30, **kw) for kw in runs]
        ]
    for a, b in zip(here, there, strict=True):
        assert b.stats["backend"] == a.stats["backend"]
        _same(a, b)
