"""Values of network quantities: distributions, draw(), the text form (biosnn.network.values).

Where each expected number comes from (all analytic):

* Uniform(a, b): mean (a + b)/2, variance (b - a)**2/12.
* Normal truncated to [lo, hi] (alpha = (lo - mu)/sd, beta = (hi - mu)/sd, Z = Phi(beta) -
  Phi(alpha)): mean mu + sd*(phi(alpha) - phi(beta))/Z (Johnson, Kotz & Balakrishnan,
  Continuous Univariate Distributions vol. 1, ch. 13).
* LogNormal(m, s): log X ~ N(mu, sigma) with sigma**2 = log(1 + s**2/m**2),
  mu = log(m) - sigma**2/2, so E[X] = m and SD[X] = s.
* Sample means are compared with 5 standard errors (a fixed seed; a correct sampler fails
  with probability below 1e-6).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from biosnn.errors import ModelError
from biosnn.network.values import Constant, LogNormal, Normal, Uniform, draw, parse_value

N = 200_000


def _within(sample, mean, sd, k=5.0):
    """|sample mean - mean| < k standard errors."""
    return abs(float(np.mean(sample)) - mean) < k * sd / math.sqrt(len(sample))


def test_uniform_moments_and_bounds():
    x = draw(Uniform(-60, -50), N, np.random.default_rng(0))
    assert x.dtype == np.float64 and x.shape == (N,)
    assert x.min() >= -60 and x.max() < -50
    assert _within(x, -55, 10 / math.sqrt(12))
    # variance (b-a)^2/12 = 8.333; the sample variance of N uniforms has sd ~ 0.019
    assert abs(x.var() - 100 / 12) < 0.1


def test_normal_moments():
    x = draw(Normal(4.0, 1.5), N, np.random.default_rng(1))
    assert _within(x, 4.0, 1.5)
    assert abs(x.std() - 1.5) < 0.02


def test_truncated_normal_bounds_and_mean():
    mu, sd, lo, hi = 0.0, 1.0, -0.5, 2.0
    x = draw(Normal(mu, sd, low=lo, high=hi), N, np.random.default_rng(2))
    assert x.min() >= lo and x.max() <= hi

    def phi(z):
        return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    def Phi(z):
        return 0.5 * math.erfc(-z / math.sqrt(2))

    Z = Phi(hi) - Phi(lo)
    mean = mu + sd * (phi(lo) - phi(hi)) / Z
    assert _within(x, mean, sd)


def test_truncated_normal_one_sided_and_far_tail_is_an_error():
    x = draw(Normal(4, 1.5, low=0), 10_000, np.random.default_rng(3))
    assert x.min() >= 0
    # mass of N(0,1) above 5 is 2.9e-7: refuse instead of redrawing forever
    with pytest.raises(ModelError, match="holds only"):
        draw(Normal(0, 1, low=5), 10, np.random.default_rng(0))


def test_lognormal_mean_and_sd_are_of_the_values():
    m, s = 2.0, 1.0
    x = draw(LogNormal(m, s), N, np.random.default_rng(4))
    sigma = math.sqrt(math.log(1 + s**2 / m**2))
    mu = math.log(m) - sigma**2 / 2
    logs = np.log(x)
    assert _within(logs, mu, sigma)
    assert abs(logs.std() - sigma) < 5 * sigma / math.sqrt(2 * N)
    assert _within(x, m, s)


def test_constant_and_scalars():
    assert draw(Constant(2.5), 3, None).tolist() == [2.5, 2.5, 2.5]
    assert draw(-65, 2, None).tolist() == [-65.0, -65.0]
    assert draw(np.float32(1.5), 1, None).tolist() == [1.5]
    # strings without convert: biosnn's internal unit of their dimension (nA -> pA)
    assert draw("0.1 nA", 2, None).tolist() == [100.0, 100.0]
    assert draw(3.0, 0, None).shape == (0,)


def test_convert_is_applied_to_parameters_and_arrays():
    factor = 1000.0  # e.g. display uS -> internal nS

    def convert(x):
        if isinstance(x, str):
            value, unit = x.split()
            return float(value) * {"uS": 1000.0, "nS": 1.0}[unit]
        return np.asarray(x, float) * factor

    x = draw(Uniform(1, 2), 1000, np.random.default_rng(0), convert)
    assert x.min() >= 1000 and x.max() < 2000
    y = draw(Uniform("1 nS", "0.002 uS"), 1000, np.random.default_rng(0), convert)
    assert y.min() >= 1 and y.max() < 2
    assert draw([1, 2], 2, None, convert).tolist() == [1000.0, 2000.0]
    assert draw(["1 nS", "1 uS"], 2, None, convert).tolist() == [1.0, 1000.0]
    assert draw(Constant("3 nS"), 2, None, convert).tolist() == [3.0, 3.0]


def test_with_a_model_to_internal():
    from biosnn import Model

    model = Model(
        "dv/dt = (g*(E - v))/C : volt", params={"g": "0.01 uS", "E": "0 mV", "C": "100 pF"}
    )

    def convert(x):
        return model.to_internal("g", x)

    x = draw(Normal("10 nS", "1 nS", low=0), 5000, np.random.default_rng(0), convert)
    assert _within(x, 10.0, 1.0)
    assert draw(0.02, 1, None, convert).tolist() == [20.0]  # 0.02 uS = 20 nS
    with pytest.raises(ModelError, match="parameter low.*needs conductance"):
        draw(Uniform("1 mV", "2 mV"), 3, np.random.default_rng(0), convert)


def test_same_seed_same_values():
    d = Normal(0, 1, low=-1, high=1)
    a = draw(d, 1000, np.random.default_rng(7))
    b = draw(d, 1000, np.random.default_rng(7))
    c = draw(d, 1000, 8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_array_length_and_shape_errors():
    with pytest.raises(ValueError, match="must have 5 values.*got 3"):
        draw([1.0, 2.0, 3.0], 5, None, name="V")
    with pytest.raises(ValueError, match="1-D"):
        draw(np.zeros((2, 2)), 4, None)
    with pytest.raises(TypeError, match="a Distribution"):
        draw(True, 3, None)
    with pytest.raises(TypeError, match="a Distribution"):
        draw(lambda t: t, 3, None)
    with pytest.raises(ValueError, match="non-negative integer"):
        draw(1.0, -1, None)
    with pytest.raises(TypeError, match="rng"):
        draw(Uniform(0, 1), 3, "seed")


def test_bad_parameters():
    with pytest.raises(ModelError, match="high must not be below low"):
        Uniform(2, 1)
    with pytest.raises(ModelError, match="must not be negative"):
        Normal(0, -1)
    with pytest.raises(ModelError, match="positive"):
        LogNormal(-1, 0.5)
    with pytest.raises(ModelError, match="finite"):
        Constant(float("nan"))
    with pytest.raises(ModelError, match="number or a string"):
        Uniform([0], 1)
    with pytest.raises(ModelError, match="low must be below high"):
        Normal(0, 1, low=1, high=0)
    # only known after conversion: strings
    with pytest.raises(ModelError, match="high must not be below low"):
        draw(Uniform("2 mV", "1 mV"), 3, np.random.default_rng(0))


def test_frozen_hashable_and_repr():
    d = Uniform("-60 mV", "-50 mV")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.low = 0
    assert d == Uniform("-60 mV", "-50 mV") and hash(d) == hash(Uniform("-60 mV", "-50 mV"))
    assert repr(d) == "Uniform(low='-60 mV', high='-50 mV')"
    assert str(Normal(4, 1.5, low=0)) == "normal(4, 1.5, low=0)"


@pytest.mark.parametrize(
    "dist",
    [
        Uniform("-60 mV", "-50 mV"),
        Normal("4 nS", "1.5 nS"),
        Normal(0.5, 0.1, low=0.0, high=1.0),
        Normal(1, 2, high=3),
        LogNormal("1 nS", "0.5 nS"),
        Constant("2 ms"),
        Uniform(-1.5e-3, 2),
    ],
)
def test_text_round_trip(dist):
    assert parse_value(str(dist)) == dist


def test_parse_value_forms():
    assert parse_value("uniform(-60 mV, -50 mV)") == Uniform("-60 mV", "-50 mV")
    assert parse_value("normal(4 nS, 1.5 nS)") == Normal("4 nS", "1.5 nS")
    assert parse_value(" Normal( 4 ,1.5, high = 6 ) ") == Normal(4.0, 1.5, high=6.0)
    assert parse_value("lognormal(mean=1 nS, sd=0.5 nS)") == LogNormal("1 nS", "0.5 nS")
    assert parse_value("constant(1/ms)") is not None
    assert parse_value("-65 mV") == "-65 mV"
    assert parse_value("10") == 10.0
    assert parse_value(2) == 2.0
    # draw reads the text form itself
    x = draw("uniform(0, 1)", 100, np.random.default_rng(0))
    assert x.min() >= 0 and x.max() < 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("unifrom(0, 1)", "unknown distribution 'unifrom'"),
        ("uniform(0)", "missing high"),
        ("uniform(0, 1, 2)", "at most 2 arguments"),
        ("normal(0, 1, lo=2)", "no parameter 'lo'"),
        ("normal(0, 1, mean=2)", "given twice"),
        ("normal(mean=0, 1)", "positional argument follows"),
        ("uniform(a, 1)", "'a' is not a number"),
        ("uniform(__import__('os'), 1)", "parentheses"),
        ("mV", "not a number"),
        ("", "not a number"),
    ],
)
def test_parse_value_errors_name_the_text(text, message):
    with pytest.raises(ModelError, match=message):
        parse_value(text)


def test_parse_value_rejects_non_text():
    with pytest.raises(ModelError, match="number or a text"):
        parse_value([1, 2])
