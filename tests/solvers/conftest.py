"""Hand-built KernelSpecs for driver tests (independent of the Model layer).

``make_spec`` builds a :class:`~biosnn.codegen.spec.KernelSpec` from sympy expressions the
way ``Model.kernel_spec()`` does (internal units are whatever the test says): the Jacobian,
``df/dt``, the exponential-Euler split and the linear form are derived here with sympy.
Expression strings are sympified: they are test code, never user input.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
import pytest
import sympy

from biosnn.codegen.spec import KernelSpec

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"


def _sym(name):
    return sympy.Symbol(name, real=True)


def make_spec(
    name,
    rhs: dict,
    params=(),
    *,
    noise=None,
    threshold=None,
    reset=(),
    refractory_time=None,
    refractory_condition=None,
    unless_refractory=(),
    aliases=(),
    time_dimensionless=False,
) -> KernelSpec:
    """KernelSpec from ``rhs = {state: expr}`` (strings or sympy), params names.

    ``noise = {state: {noise_name: coefficient}}``; ``threshold`` a relation string;
    ``reset`` a list of ``(state, expr)``; ``aliases`` a list of ``(name, expr)``.
    """
    states = tuple(rhs)
    params = tuple(params)
    t = _sym("t")
    ns = {n: _sym(n) for n in states + params}
    ns["t"] = t

    def S(e):
        return sympy.sympify(e, locals=ns) if isinstance(e, str) else sympy.sympify(e)

    f = tuple(S(rhs[s]) for s in states)
    ysyms = [ns[s] for s in states]
    noises = tuple(sorted({k for d in (noise or {}).values() for k in d}))
    g = (
        tuple(tuple(S((noise or {}).get(s, {}).get(k, 0)) for k in noises) for s in states)
        if noises
        else ()
    )
    jac = tuple(tuple(sympy.diff(fi, yj) for yj in ysyms) for fi in f)
    dfdt = tuple(sympy.diff(fi, t) for fi in f)
    exp_euler = []
    for fi, yi in zip(f, ysyms, strict=True):
        A = sympy.diff(fi, yi)
        if yi in A.free_symbols:
            exp_euler.append(None)
        else:
            exp_euler.append((A, sympy.expand(fi - A * yi)))
    linear = None
    if all(not (e.free_symbols & (set(ysyms) | {t})) for row in jac for e in row):
        b = tuple(fi.subs({y: 0 for y in ysyms}) for fi in f)
        if all(t not in bi.free_symbols for bi in b):
            linear = (jac, b)
    thr = crossing = None
    if threshold is not None:
        thr = S(threshold)
        if isinstance(thr, sympy.core.relational.Relational):
            if isinstance(thr, (sympy.StrictGreaterThan, sympy.GreaterThan)):
                crossing = thr.lhs - thr.rhs
            else:
                crossing = thr.rhs - thr.lhs
    reset_t = tuple((states.index(s), S(e)) for s, e in reset)
    ur = tuple(s in unless_refractory for s in states) if unless_refractory else ()
    key = hashlib.sha256(
        json.dumps(
            [
                name,
                [str(x) for x in f],
                str(g),
                str(thr),
                str(reset_t),
                str(refractory_time),
                str(refractory_condition),
                ur,
                [(a, str(e)) for a, e in aliases],
            ]
        ).encode()
    ).hexdigest()
    return KernelSpec(
        name=name,
        key=key,
        states=states,
        params=params,
        noises=noises,
        t=t,
        f=f,
        g=g,
        jac=jac,
        dfdt=dfdt,
        threshold=thr,
        crossing=crossing,
        reset=reset_t,
        refractory_time=None if refractory_time is None else S(refractory_time),
        refractory_condition=None if refractory_condition is None else S(refractory_condition),
        unless_refractory=ur,
        aliases=tuple((a, S(e)) for a, e in aliases),
        exp_euler=tuple(exp_euler),
        linear=linear,
        time_dimensionless=time_dimensionless,
    )


HH_RATES = {
    "alpha_m": "0.1*(V + 40)/(1 - exp(-(V + 40)/10))",
    "beta_m": "4*exp(-(V + 65)/18)",
    "alpha_h": "0.07*exp(-(V + 65)/20)",
    "beta_h": "1/(1 + exp(-(V + 35)/10))",
    "alpha_n": "0.01*(V + 55)/(1 - exp(-(V + 55)/10))",
    "beta_n": "0.125*exp(-(V + 65)/80)",
}


def hh_spec() -> KernelSpec:
    """Classic Hodgkin-Huxley in mV, ms, uA/cm2, mS/cm2, uF/cm2 (tests/data/README.md)."""
    r = {k: f"({v})" for k, v in HH_RATES.items()}
    rhs = {
        "V": "(I_ext - gNa*m**3*h*(V - ENa) - gK*n**4*(V - EK) - gL*(V - EL))/C",
        "m": f"{r['alpha_m']}*(1 - m) - {r['beta_m']}*m",
        "h": f"{r['alpha_h']}*(1 - h) - {r['beta_h']}*h",
        "n": f"{r['alpha_n']}*(1 - n) - {r['beta_n']}*n",
    }
    return make_spec(
        "hh",
        rhs,
        ("C", "gNa", "gK", "gL", "ENa", "EK", "EL", "I_ext"),
        threshold="V > 0",
        aliases=[("I_Na", "gNa*m**3*h*(V - ENa)")],
    )


def hh_reference() -> dict:
    return json.loads((DATA / "hh_I10_1000ms.json").read_text())


def lif_spec(refractory=None, noise=False) -> KernelSpec:
    """dV/dt = (EL - V + R*I)/tau, threshold V > Vt, reset V = Vr."""
    return make_spec(
        "lif",
        {"V": "(EL - V + R*I)/tau"},
        ("EL", "R", "I", "tau", "Vt", "Vr", "tref"),
        threshold="V > Vt",
        reset=[("V", "Vr")],
        refractory_time="tref" if refractory else None,
        unless_refractory=("V",) if refractory else (),
        noise={"V": {"xi": "sigma"}} if noise else None,
    )


LIF_PARAMS = {"EL": -65.0, "R": 10.0, "I": 2.0, "tau": 10.0, "Vt": -50.0, "Vr": -65.0, "tref": 2.0}


@pytest.fixture
def hh():
    return hh_spec()


def run_spec(
    spec,
    method,
    t1,
    y0,
    params=(),
    *,
    dt=None,
    rtol=None,
    atol=None,
    n=None,
    stimuli=None,
    record_dt=0.1,
    record_every=1,
    seed=None,
    propagator=None,
    max_steps=10_000_000,
):
    """Run the NumPy driver on a hand-built spec (internal units as given)."""
    from biosnn.solvers.drivers import run
    from biosnn.solvers.request import RunRequest

    y0 = np.asarray(y0, float)
    if y0.ndim == 1:
        y0 = y0[:, None]
    if n is not None and y0.shape[1] != n:
        y0 = np.repeat(y0, n, axis=1)
    p = np.asarray(params, float)
    p = p.reshape(len(spec.params), -1) if p.size else np.zeros((len(spec.params), 1))
    p = np.array(np.broadcast_to(p, (len(spec.params), y0.shape[1])))
    req = RunRequest(
        method=method,
        t0=0.0,
        t1=float(t1),
        dt=dt,
        rtol=rtol,
        atol=atol,
        y0=y0,
        params=p,
        stimuli=dict(stimuli or {}),
        record_states=tuple(range(spec.n_states)),
        record_every=record_every,
        record_dt=record_dt,
        seed=seed,
        propagator=propagator,
        max_steps=max_steps,
    )
    return run(spec, _kernel(spec), req)


_KERNELS = {}


def _kernel(spec):
    from biosnn.codegen.numpy_backend import NumpyKernel

    if spec.key not in _KERNELS:
        _KERNELS[spec.key] = NumpyKernel(spec)
    return _KERNELS[spec.key]
