"""Hand-built KernelSpecs for the C backend tests (and a sanity test of the builders).

Built directly from sympy, in internal units, so the C tests do not depend on the parser
and the model library.  Other test_c_* modules import the builders from here.
"""

from __future__ import annotations

import hashlib

import numpy as np
import sympy as sp

from biosnn.codegen.spec import KernelSpec

T = sp.Symbol("t", real=True)


def _syms(names):
    return [sp.Symbol(n, real=True) for n in names]


def make_spec(
    name,
    states,
    params,
    f,
    *,
    noises=(),
    g=None,
    threshold=None,
    crossing=None,
    reset=(),
    refractory_time=None,
    refractory_condition=None,
    unless_refractory=None,
    exp_euler=None,
    linear=None,
    tag="",
):
    """A KernelSpec with the Jacobian, df/dt and exp-Euler split derived by sympy."""
    ys = _syms(states)
    f = [sp.sympify(e) for e in f]
    jac = tuple(tuple(sp.diff(fi, yj) for yj in ys) for fi in f)
    dfdt = tuple(sp.diff(fi, T) for fi in f)
    if exp_euler is None:
        ee = []
        for fi, yi in zip(f, ys, strict=True):
            a = sp.diff(fi, yi)
            if yi in a.free_symbols:
                ee.append(None)
            else:
                ee.append((a, sp.simplify(fi - a * yi)))
        exp_euler = tuple(ee)
    text = repr(
        (
            name,
            states,
            params,
            f,
            noises,
            g,
            threshold,
            crossing,
            reset,
            refractory_time,
            refractory_condition,
            unless_refractory,
            tag,
        )
    )
    return KernelSpec(
        name=name,
        key=hashlib.sha256(text.encode()).hexdigest(),
        states=tuple(states),
        params=tuple(params),
        noises=tuple(noises),
        t=T,
        f=tuple(f),
        g=tuple(tuple(r) for r in (g or ())),
        jac=jac,
        dfdt=dfdt,
        threshold=threshold,
        crossing=crossing,
        reset=tuple(reset),
        refractory_time=refractory_time,
        refractory_condition=refractory_condition,
        unless_refractory=tuple(unless_refractory or (False,) * len(states)),
        exp_euler=exp_euler,
        linear=linear,
    )


def lif_spec():
    """LIF: dv/dt = (EL - v + R*I)/tau (unless refractory), threshold v > vt, reset v = vr."""
    (v,) = _syms(["v"])
    EL, R, I, tau, vt, vr, tref = _syms(["EL", "R", "I", "tau", "vt", "vr", "tref"])
    return make_spec(
        "lif",
        ["v"],
        ["EL", "R", "I", "tau", "vt", "vr", "tref"],
        [(EL - v + R * I) / tau],
        threshold=v > vt,
        crossing=v - vt,
        reset=[(0, vr)],
        refractory_time=tref,
        unless_refractory=[True],
    )


LIF_PARAMS = {"EL": -70.0, "R": 0.1, "I": 250.0, "tau": 10.0, "vt": -50.0, "vr": -65.0, "tref": 2.0}


def hh_spec():
    """Classic Hodgkin-Huxley (tests/data/hh_I10_1000ms.json), threshold V > 0."""
    V, m, h, n = _syms(["V", "m", "h", "n"])
    C, gNa, gK, gL, ENa, EK, EL, I = _syms(["C", "gNa", "gK", "gL", "ENa", "EK", "EL", "I_ext"])
    am = 0.1 * (V + 40) / (1 - sp.exp(-(V + 40) / 10))
    bm = 4 * sp.exp(-(V + 65) / 18)
    ah = 0.07 * sp.exp(-(V + 65) / 20)
    bh = 1 / (1 + sp.exp(-(V + 35) / 10))
    an = 0.01 * (V + 55) / (1 - sp.exp(-(V + 55) / 10))
    bn = 0.125 * sp.exp(-(V + 65) / 80)
    fV = (I - gNa * m**3 * h * (V - ENa) - gK * n**4 * (V - EK) - gL * (V - EL)) / C
    return make_spec(
        "hh",
        ["V", "m", "h", "n"],
        ["C", "gNa", "gK", "gL", "ENa", "EK", "EL", "I_ext"],
        [fV, am * (1 - m) - bm * m, ah * (1 - h) - bh * h, an * (1 - n) - bn * n],
        threshold=V > 0,
        crossing=V,
    )


HH_PARAMS = {
    "C": 1.0,
    "gNa": 120.0,
    "gK": 36.0,
    "gL": 0.3,
    "ENa": 50.0,
    "EK": -77.0,
    "EL": -54.387,
    "I_ext": 10.0,
}
HH_Y0 = [-64.99637933119206, 0.052955086813008125, 0.5959941247398638, 0.31773239976086576]


def izh_spec():
    """Izhikevich with compound threshold (v > 30 and u > -100) -> boolean bisection."""
    v, u = _syms(["v", "u"])
    a, b, c, d, I = _syms(["a", "b", "c", "d", "I"])
    return make_spec(
        "izh",
        ["v", "u"],
        ["a", "b", "c", "d", "I"],
        [0.04 * v**2 + 5 * v + 140 - u + I, a * (b * v - u)],
        threshold=sp.And(v > 30, u > -100),
        reset=[(0, c), (1, u + d)],
    )


IZH_PARAMS = {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0, "I": 10.0}


def ou_spec():
    """Ornstein-Uhlenbeck with threshold/reset: dv = (mu - v)/tau dt + sigma*sqrt(2/tau) dW."""
    (v,) = _syms(["v"])
    mu, tau, sigma = _syms(["mu", "tau", "sigma"])
    return make_spec(
        "ou",
        ["v"],
        ["mu", "tau", "sigma"],
        [(mu - v) / tau],
        noises=("xi",),
        g=[[sigma * sp.sqrt(2 / tau)]],
        threshold=v > 1.0,
        crossing=v - 1.0,
        reset=[(0, sp.Integer(0))],
    )


OU_PARAMS = {"mu": 0.8, "tau": 10.0, "sigma": 0.5}


def linear_spec():
    """Two coupled linear states (for 'exact'): dx = -x/tx + y, dy = -y/ty + I."""
    x, y = _syms(["x", "y"])
    tx, ty, I = _syms(["tx", "ty", "I"])
    f = [-x / tx + y, -y / ty + I]
    A = ((-1 / tx, 1), (0, -1 / ty))
    return make_spec("lin", ["x", "y"], ["tx", "ty", "I"], f, linear=(A, (0, I)))


LIN_PARAMS = {"tx": 5.0, "ty": 3.0, "I": 2.0}


def param_array(spec, values, n):
    return np.array([[values[p]] * n for p in spec.params], dtype=float).reshape(
        len(spec.params), n
    )


def test_builders_make_consistent_specs():
    for spec in (lif_spec(), hh_spec(), izh_spec(), ou_spec(), linear_spec()):
        assert len(spec.f) == spec.n_states
        assert len(spec.jac) == spec.n_states
        assert spec.key == spec.key and len(spec.key) == 64
