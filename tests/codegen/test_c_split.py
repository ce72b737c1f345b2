"""Lane functions of large models are split into bounded pieces (compile time near-linear
in the model size, see ``c_backend.LANE_SPLIT``); the split kernels compute what the
unsplit ones compute.

Reference: the NumPy backend with the same method and step (a fixed-step reference: same
scheme, same steps, so the two agree to rounding).  The 300-state chain against its
analytic solution is in tests/equations/test_large_models.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from biosnn import Model, simulate
from biosnn.codegen import c_backend

N = 140  # bs_f_v: 140 outputs, bs_expeuler_v: 280 (both above LANE_SPLIT = 128)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def model():
    # a nonlinear chain: every state decays into the next, with a loss rate that depends
    # on the previous state (exp calls in every piece; linear in its own state, so
    # exponential Euler applies)
    lines = ["dx0/dt = -x0/tau : 1"]
    lines += [f"dx{i}/dt = (x{i - 1} - x{i})/tau - k*x{i}*exp(-x{i - 1}) : 1" for i in range(1, N)]
    return Model(
        "\n".join(lines),
        params={"tau": 0.5, "k": 0.3},
        init={"x0": 2.0, "x1": 1.0},
        time="1",
        name="chain_nl",
    )


def test_large_lane_functions_are_split_into_bounded_pieces(model):
    src = c_backend.generate_source(model.kernel_spec(), "fixed")
    for name, outputs in (("bs_f_v", N), ("bs_expeuler_v", 2 * N)):
        pieces = -(-outputs // c_backend.LANE_PIECE)
        defined = re.findall(rf"^BS_PIECE void {name}_(\d+)\(", src, re.M)
        assert defined == [str(j) for j in range(pieces)]
        # the entry point calls every piece once, in order
        body = src.split(f"BS_KERNEL void {name}(")[1].split("\n}\n")[0]
        assert re.findall(rf"{name}_(\d+)\(", body) == defined
    # the scalar drift of the adaptive family too (the fixed family has none)
    assert "bs_f(" not in src
    adaptive = c_backend.generate_source(model.kernel_spec(), "adaptive")
    assert re.findall(r"^static BS_NOINLINE void bs_f_(\d+)\(", adaptive, re.M) == [
        str(j) for j in range(-(-N // c_backend.LANE_PIECE))
    ]
    # every output is written by exactly one piece
    for j in range(N):
        assert len(re.findall(rf"\bO\[{j}\*BS_B\+l\] =", src)) == 1
        assert len(re.findall(rf"\bA\[{j}\*BS_B\+l\] =", src)) == 1


def test_small_lane_functions_stay_one_loop():
    from tests.codegen.test_c_specs import hh_spec

    assert "BS_PIECE void" not in c_backend.generate_source(hh_spec(), "fixed")


@pytest.mark.parametrize("method", ["rk4", "exponential_euler"])
def test_split_kernel_agrees_with_numpy(model, method):
    # reference: the NumPy backend, same method and step (fixed-step reference)
    kw = dict(method=method, dt=0.01, record_dt=0.25, n=3, params={"k": [0.3, 0.1, 0.6]})
    ref = simulate(model, 5.0, backend="numpy", **kw)
    res = simulate(model, 5.0, backend="c", **kw)
    assert res.stats["backend"] == "c"
    # relative agreement (the far end of the chain is tiny, ~1e-104 at t = 5)
    for i in range(N):
        np.testing.assert_allclose(res[f"x{i}"], ref[f"x{i}"], rtol=1e-10, atol=1e-250)
    assert np.all(ref[f"x{N - 1}"][:, -1] > 1e-200)  # the signal reaches the last state


def test_split_scalar_drift_agrees_with_numpy(model):
    # the adaptive (and stiff) drivers call the scalar bs_f, split like the lane
    # functions; reference: the NumPy backend, same method and tolerances.  The two
    # may take different steps (rounding near an accept/reject decision), so they agree
    # to the tolerance, not to rounding
    kw = dict(method="rk45", rtol=1e-9, atol=1e-12, record_dt=0.25)
    ref = simulate(model, 5.0, backend="numpy", **kw)
    res = simulate(model, 5.0, backend="c", **kw)
    assert res.stats["backend"] == "c"
    for i in range(N):
        np.testing.assert_allclose(res[f"x{i}"], ref[f"x{i}"], rtol=0, atol=1e-7)
