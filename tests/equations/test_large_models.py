"""Large models: a chain of 300 coupled linear states builds and runs correctly.

    dx0/dt = -x0/tau,   dx_i/dt = (x_{i-1} - x_i)/tau,   x0(0) = 1, x_i(0) = 0

Reference (analytic): x_i(t) = (t/tau)**i * exp(-t/tau) / i!  (the Poisson probabilities:
the chain is a pure-birth process).  Building used to cost O(n**2) sympy work (every
Jacobian entry differentiated, every zero compared and hashed, the n**2 entries of the
linear system printed one by one); the build cost per state is in docs/benchmarks.md
(benchmarks/model_size.py).  No timing is asserted here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from biosnn import Model, simulate

N = 300
TAU = 2.0


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path / "cache"))


def chain(n=N):
    lines = ["dx0/dt = -x0/tau : 1"]
    lines += [f"dx{i}/dt = (x{i - 1} - x{i})/tau : 1" for i in range(1, n)]
    return Model("\n".join(lines), params={"tau": TAU}, init={"x0": 1.0}, time="1", name="chain")


def analytic(t, i):
    # x_i(t) = (t/tau)^i exp(-t/tau) / i!, computed in logs (i up to 299)
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = i * np.log(t / TAU) - t / TAU - math.lgamma(i + 1)
    return np.where(t > 0, np.exp(log), 1.0 if i == 0 else 0.0)


@pytest.fixture(scope="module")
def model():
    return chain()


def test_the_jacobian_is_built_sparse_and_exact(model):
    spec = model.kernel_spec()
    nonzero = [(i, j) for i, row in enumerate(spec.jac) for j, e in enumerate(row) if e != 0]
    # d f_i / d x_i = -1/tau, d f_i / d x_{i-1} = 1/tau: 2n - 1 nonzero entries
    assert len(nonzero) == 2 * N - 1
    assert spec.jac[5][4] == 1 / model.symbols["tau"]
    assert spec.linear is not None and spec.exp_euler[7] is not None


@pytest.mark.parametrize("method, dt, tol", [("rk4", 0.01, 1e-9), ("exact", 0.5, 1e-12)])
def test_chain_matches_the_analytic_solution_numpy(model, method, dt, tol):
    res = simulate(model, 10.0, method=method, dt=dt, record_dt=0.5, backend="numpy")
    for i in (0, 1, 2, 5, 10, 20, 299):
        np.testing.assert_allclose(res[f"x{i}"][0], analytic(res.t, i), rtol=0, atol=tol)


@pytest.mark.slow
def test_chain_matches_the_analytic_solution_c(model):
    # one C compile of a 300-state kernel: 5-30 s on a loaded 2-core machine
    res = simulate(model, 10.0, method="rk4", dt=0.01, record_dt=0.5, backend="c")
    assert res.stats["backend"] == "c"
    for i in (0, 1, 2, 5, 10, 20, 299):
        np.testing.assert_allclose(res[f"x{i}"][0], analytic(res.t, i), rtol=0, atol=1e-9)
