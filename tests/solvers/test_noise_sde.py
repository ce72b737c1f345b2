"""Stochastic methods: statistics of an Ornstein-Uhlenbeck process and strong orders.

OU: dv = -v/tau dt + sigma*sqrt(2/tau) dW, v(0) = v0: mean v0*exp(-t/tau), variance
sigma**2*(1 - exp(-2t/tau)) (Gardiner, Handbook of Stochastic Methods, 4.4.4).  Strong
orders (Kloeden & Platen 1992): Euler-Maruyama 1/2 for multiplicative noise; the
stochastic Heun method 1 for a scalar Stratonovich SDE.  Geometric Brownian motion
dX = mu X dt + s X dW has the exact solution X0*exp((mu - s**2/2) t + s W_t) (Ito) and
X0*exp(mu t + s W_t) (Stratonovich); W_t is rebuilt from the same counter-based numbers.
"""

import numpy as np
import pytest
from conftest import make_spec, run_spec

from biosnn.solvers.noise import normal, seed_key


def test_ou_mean_and_variance():
    tau, sigma, v0, T, n = 1.0, 0.5, 1.0, 1.0, 4000
    spec = make_spec(
        "ou", {"v": "-v/tau"}, ("tau", "sigma"), noise={"v": {"xi": "sigma*sqrt(2/tau)"}}
    )
    raw = run_spec(
        spec, "euler_maruyama", T, [v0], [tau, sigma], n=n, dt=0.001, seed=7, record_every=1000
    )
    v = raw.y_final[0]
    mean, var = v0 * np.exp(-T / tau), sigma**2 * (1 - np.exp(-2 * T / tau))
    se_mean, se_var = np.sqrt(var / n), var * np.sqrt(2 / n)
    assert abs(v.mean() - mean) < 4 * se_mean
    assert abs(v.var() - var) < 4 * se_var


def test_noise_is_reproducible_and_counter_based():
    spec = make_spec("bm", {"w": "0"}, noise={"w": {"xi": "1"}})
    a = run_spec(spec, "euler_maruyama", 1.0, [0.0], n=3, dt=0.1, seed=3, record_every=1)
    b = run_spec(spec, "euler_maruyama", 1.0, [0.0], n=3, dt=0.1, seed=3, record_every=1)
    np.testing.assert_array_equal(a.y, b.y)
    # w after step k is the sum of sqrt(dt)*z(key, step, instance*n_noises + 0)
    z = normal(seed_key(3), np.arange(10)[:, None], np.arange(3)[None, :])
    np.testing.assert_allclose(a.y_final[0], np.sqrt(0.1) * z.sum(axis=0), rtol=1e-14)
    c = run_spec(spec, "euler_maruyama", 1.0, [0.0], n=3, dt=0.1, seed=4, record_every=1)
    assert not np.allclose(a.y_final, c.y_final)


def _gbm_strong_error(method, dt, mu=1.0, s=0.8, T=1.0, n=1000, seed=11):
    spec = make_spec("gbm", {"x": "mu*x"}, ("mu", "s"), noise={"x": {"xi": "s*x"}})
    raw = run_spec(spec, method, T, [1.0], [mu, s], n=n, dt=dt, seed=seed, record_every=10**6)
    steps = round(T / dt)
    z = normal(seed_key(seed), np.arange(steps)[:, None], np.arange(n)[None, :])
    W = np.sqrt(dt) * z.sum(axis=0)
    drift = mu - s**2 / 2 if method == "euler_maruyama" else mu
    exact = np.exp(drift * T + s * W)
    return np.mean(np.abs(raw.y_final[0] - exact))


@pytest.mark.parametrize("method,order", [("euler_maruyama", 0.5), ("stochastic_heun", 1.0)])
def test_strong_order(method, order):
    dts = [0.02, 0.01, 0.005, 0.0025]
    errs = [_gbm_strong_error(method, dt) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert slope == pytest.approx(order, abs=0.2)


def test_held_states_get_no_noise():
    """While refractory, an (unless refractory) state has zero drift and zero noise."""
    spec = make_spec(
        "noisy_lif",
        {"V": "(EL - V + R*I)/tau"},
        ("EL", "R", "I", "tau", "Vt", "Vr", "tref", "sigma"),
        threshold="V > Vt",
        reset=[("V", "Vr")],
        refractory_time="tref",
        unless_refractory=("V",),
        noise={"V": {"xi": "sigma"}},
    )
    raw = run_spec(
        spec,
        "euler_maruyama",
        50.0,
        [-65.0],
        [-65.0, 10.0, 2.0, 10.0, -50.0, -65.0, 5.0, 0.5],
        dt=0.01,
        seed=2,
        record_every=1,
    )
    t, v = raw.t, raw.y[0, 0]
    ts = raw.spike_time[0]
    held = (t > ts + 0.02) & (t < ts + 4.9)
    assert held.any() and np.all(v[held] == -65.0)
