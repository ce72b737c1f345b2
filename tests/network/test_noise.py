r"""White noise (xi) in network populations: Euler-Maruyama and stochastic Heun.

An Ornstein-Uhlenbeck population dx = -x/tau dt + sigma/sqrt(tau) dW has the stationary
variance sigma**2/2.  The discretised processes are AR(1): with h = dt/tau,
Euler-Maruyama  x' = (1 - h) x + sigma sqrt(h) z       -> var = sigma**2/(2 - h),
stochastic Heun x' = (1 - h + h**2/2) x + (1 - h/2) sigma sqrt(h) z
                -> var = sigma**2 h (1 - h/2)**2/(1 - (1 - h + h**2/2)**2),
both sigma**2/2 (1 + O(h)).  Samples 5 tau apart are nearly independent (correlation
e**-5), so the sample variance of m samples has standard deviation var*sqrt(2/(m - 1)).
"""

import numpy as np
import pytest

from biosnn import Model
from biosnn.codegen import c_build
from biosnn.errors import ModelError
from biosnn.network import Network, Population, StateMonitor

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])
OU = Model(
    "dx/dt = -x/tau + sigma*xi/sqrt(tau) : 1", params={"tau": "10 ms", "sigma": 0.5}, name="ou"
)
SIGMA, H = 0.5, 0.01


def _ou(backend, method, n=4000):
    P = Population(OU, n, method=method, init={"x": 0})
    mon = StateMonitor(P, "x", np.arange(n), every=500)  # every 50 ms = 5 tau
    net = Network(P, mon, dt=0.1, seed=11, backend=backend)
    net.run(550.0)
    return mon["x"][:, 1:]  # 11 samples after 5 tau


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["euler_maruyama", "stochastic_heun"])
def test_ou_stationary_variance(backend, method):
    x = _ou(backend, method)
    var = x.var()
    if method == "euler_maruyama":
        expected = SIGMA**2 / (2 - H)
    else:
        a = 1 - H + H**2 / 2
        expected = SIGMA**2 * H * (1 - H / 2) ** 2 / (1 - a**2)
    sd = expected * np.sqrt(2 / (x.size - 1))
    assert abs(var - expected) < 5 * sd
    assert abs(var - SIGMA**2 / 2) < 5 * sd + abs(expected - SIGMA**2 / 2)
    assert abs(x.mean()) < 5 * np.sqrt(expected / x.size)


def test_noise_numpy_and_c_identical():
    if "c" not in BACKENDS:
        pytest.skip("needs a C compiler")
    for method in ("euler_maruyama", "stochastic_heun"):
        a = _ou("numpy", method, n=300)
        b = _ou("c", method, n=300)
        assert np.array_equal(a, b)


def test_noise_streams_differ_between_populations_and_neurons():
    P1 = Population(OU, 50, method="euler_maruyama", init={"x": 0})
    P2 = Population(OU, 50, method="euler_maruyama", init={"x": 0})
    net = Network(P1, P2, dt=0.1, seed=3, backend="numpy")
    net.run(1.0)
    x1, x2 = net.arrays["Y0"][0], net.arrays["Y1"][0]
    assert np.unique(np.r_[x1, x2]).size == 100


def test_normal_draws_use_no_platform_log_or_cos():
    """The draws' log and cos(2 pi u) are biosnn's own fixed operations (NumPy's float64
    log is its own SIMD code on AVX-512 machines, 1 ulp away from libm's): accurate to a
    few ulp against Python's math module (libm, correctly rounded in practice), over the
    exact set of values the generator produces (k 2**-53, k = 1 .. 2**53).
    """
    import math

    from biosnn.solvers import noise

    rng = np.random.default_rng(0)
    k = np.r_[rng.integers(1, 2**53, 50000, dtype=np.int64), 1, 2, 2**52, 2**53 - 1, 2**53]
    u = k.astype(np.float64) * 2.0**-53
    ref_log = np.array([math.log(v) for v in u])
    err = np.abs(noise._log_unit(u) - ref_log) / np.spacing(np.abs(ref_log) + 1e-300)
    assert err.max() <= 2.0
    ref_cos = np.array([math.cos(2 * math.pi * v) for v in u])
    assert np.abs(noise._cos_2pi(u) - ref_cos).max() <= 4 * np.spacing(1.0)
    assert noise._log_unit(np.array([1.0]))[0] == 0.0
    assert noise._cos_2pi(np.array([1.0, 0.5, 0.25]))[[0, 1]].tolist() == [1.0, -1.0]


def test_noise_needs_a_stochastic_method():
    with pytest.raises(ModelError, match="use method 'euler_maruyama' or 'stochastic_heun'"):
        Population(OU, 10, method="rk4")
