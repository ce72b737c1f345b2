"""White noise (xi) in network populations: Euler-Maruyama and stochastic Heun.

An Ornstein-Uhlenbeck population dx = -x/tau dt + sigma/sqrt(tau) dW has the stationary
variance sigma**2/2.  The discretised processes are AR(1): with h = dt/tau,
Euler-Maruyama  x' = (1 - h) x + sigma sqrt(h) z       -> var = sigma**2/(2 - h),
stochastic Heun x' = (1 - h + h**2/2) x + (1 - h/2) sigma sqrt(h) z
                                          -> var = sigma**2 h (1 - h/2)**2/(1 - (1 - h + h**2/2)**2),
both sigma**2/2 (1 + O(h)).  Samples 5 tau apart are nearly independent (correlation
e**-5), so the sample variance of m samples has standard deviation var*sqrt(2/(m - 1)).
"""

import ctypes

import numpy as np
import pytest

from biosnn import Model
from biosnn.codegen import c_build
from biosnn.errors import ModelError
from biosnn.network import Network, Population, StateMonitor

BACKENDS = ["numpy"] + (["c"] if c_build.compiler_available() else [])
OU = Model("dx/dt = -x/tau + sigma*xi/sqrt(tau) : 1", params={"tau": "10 ms", "sigma": 0.5},
           name="ou")
SIGMA, H = 0.5, 0.01


def _ou(backend, method, n=4000):
    P = Population(OU, n, method=method, init={"x": 0})
    mon = StateMonitor(P, "x", np.arange(n), every=500)      # every 50 ms = 5 tau
    net = Network(P, mon, dt=0.1, seed=11, backend=backend)
    net.run(550.0)
    return mon["x"][:, 1:]                                     # 11 samples after 5 tau


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["euler_maruyama", "stochastic_heun"])
def test_ou_stationary_variance(backend, method):
    x = _ou(backend, method)
    var = x.var()
    if method == "euler_maruyama":
        expected = SIGMA ** 2 / (2 - H)
    else:
        a = 1 - H + H ** 2 / 2
        expected = SIGMA ** 2 * H * (1 - H / 2) ** 2 / (1 - a ** 2)
    sd = expected * np.sqrt(2 / (x.size - 1))
    assert abs(var - expected) < 5 * sd
    assert abs(var - SIGMA ** 2 / 2) < 5 * sd + abs(expected - SIGMA ** 2 / 2)
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


def test_libm_cos_and_sqrt_equal_numpy():
    """The normal draws use log, cos and sqrt; both engines must get the same bits."""
    libm = ctypes.CDLL("libm.so.6")
    x = np.random.default_rng(0).uniform(0.0, 2 * np.pi, 20000)
    for name in ("cos", "sqrt"):
        f = getattr(libm, name)
        f.restype, f.argtypes = ctypes.c_double, [ctypes.c_double]
        assert np.array_equal(getattr(np, name)(x), np.array([f(v) for v in x])), name


def test_noise_needs_a_stochastic_method():
    with pytest.raises(ModelError, match="use method 'euler_maruyama' or 'stochastic_heun'"):
        Population(OU, 10, method="rk4")
