"""Model: construction, unit checks (exact messages), errors, derivatives, display units."""

import pickle

import numpy as np
import pytest
import sympy

from biosnn import Model
from biosnn.errors import ModelError, UnitError


def sym(name):
    return sympy.Symbol(name, real=True)


LIF = """
dv/dt = (El - v)/tau + I/C : volt (unless refractory)
"""
LIF_PARAMS = {"El": "-65 mV", "tau": "10 ms", "I": "0.2 nA", "C": "200 pF"}


def lif(**kw):
    args = dict(
        params=LIF_PARAMS,
        initial={"v": "-65 mV"},
        threshold="v > -50*mV",
        reset="v = El",
        refractory="2 ms",
        name="lif",
    )
    args.update(kw)
    return Model(LIF, **args)


HH = """
dV/dt = (I_ext - I_Na - I_K - I_L)/C : volt
I_Na = gNa*m**3*h*(V - ENa) : amp/meter**2
I_K = gK*n**4*(V - EK) : amp/meter**2
I_L = gL*(V - EL) : amp/meter**2
dm/dt = alpha_m*(1 - m) - beta_m*m : 1
dh/dt = alpha_h*(1 - h) - beta_h*h : 1
dn/dt = alpha_n*(1 - n) - beta_n*n : 1
alpha_m = 0.1/mV*(V + 40*mV)/(1 - exp(-(V + 40*mV)/(10*mV)))/ms : Hz
beta_m = 4*exp(-(V + 65*mV)/(18*mV))/ms : Hz
alpha_h = 0.07*exp(-(V + 65*mV)/(20*mV))/ms : Hz
beta_h = 1/(1 + exp(-(V + 35*mV)/(10*mV)))/ms : Hz
alpha_n = 0.01/mV*(V + 55*mV)/(1 - exp(-(V + 55*mV)/(10*mV)))/ms : Hz
beta_n = 0.125*exp(-(V + 65*mV)/(80*mV))/ms : Hz
"""
HH_PARAMS = dict(
    C="1 uF/cm**2",
    I_ext="0 uA/cm**2",
    gNa="120 mS/cm**2",
    gK="36 mS/cm**2",
    gL="0.3 mS/cm**2",
    ENa="50 mV",
    EK="-77 mV",
    EL="-54.387 mV",
)
HH_INITIAL = dict(
    V="-65 mV",
    m="alpha_m/(alpha_m + beta_m)",
    h="alpha_h/(alpha_h + beta_h)",
    n="alpha_n/(alpha_n + beta_n)",
)


@pytest.fixture(scope="module")
def hh():
    return Model(
        HH, params=HH_PARAMS, initial=HH_INITIAL, threshold="V > 0*mV", name="hodgkin_huxley"
    )


FHN = """
dv/dt = v - v**3/3 - w + I : 1
dw/dt = eps*(v + a - b*w) : 1
"""
FHN_PARAMS = {"I": 0.5, "eps": 0.08, "a": 0.7, "b": 0.8}


# -- construction ---------------------------------------------------------------------------


def test_lif_basics():
    m = lif()
    assert m.states == ("v",)
    assert dict(m.params) == {"El": -65.0, "tau": 10.0, "I": 0.2, "C": 200.0}
    v, El, tau, I, C = map(sym, ["v", "El", "tau", "I", "C"])
    assert m.rhs["v"] == (El - v) / tau + I / C
    assert dict(m.initial) == {"v": -65.0}
    assert not m.time_dimensionless and m.time_unit == "ms"


def test_hh_aliases_are_substituted_in_internal_units(hh):
    V, m = sym("V"), sym("m")
    assert hh.states == ("V", "m", "h", "n")
    assert not hh.rhs["V"].has(sym("I_Na"))
    # beta_m = 4 exp(-(V+65)/18) per ms, in internal units (mV, ms): numbers unchanged
    assert hh.aliases["beta_m"] == 4 * sympy.exp(-(V + 65) / 18)
    assert hh.rhs["m"].has(V, m)
    init = hh.initial
    assert init["V"] == -65.0
    assert init["m"] == pytest.approx(0.0529324852572496, rel=1e-12)
    assert init["h"] == pytest.approx(0.596120753508460, rel=1e-12)
    assert init["n"] == pytest.approx(0.317676914060697, rel=1e-12)


def test_hh_display_units(hh):
    assert hh.display_unit("V") == "mV"  # declared `volt`: internal unit
    # declared amp/meter**2: shown in the unit the model's I_ext already uses
    assert hh.display_unit("I_Na") == "uA/cm**2"
    assert float(hh.to_internal("I_Na", 10.0)) == pytest.approx(0.1)
    assert hh.display_unit("I_ext") == "uA/cm**2"  # as written in its default
    assert hh.display_unit("m") == "1"
    assert hh.display_unit("t") == "ms"
    assert float(hh.to_internal("I_ext", 10)) == pytest.approx(0.1, rel=1e-12)
    assert float(hh.to_internal("gNa", 120)) == pytest.approx(1.2, rel=1e-12)
    assert float(hh.to_internal("I_ext", "0.1 nA/um**2")) == pytest.approx(100.0)
    np.testing.assert_allclose(hh.to_internal("I_ext", [1, 2]), [0.01, 0.02], rtol=1e-12)
    np.testing.assert_allclose(hh.from_internal("I_ext", [0.1]), [10.0], rtol=1e-12)
    with pytest.raises(UnitError, match="has units of voltage"):
        hh.to_internal("I_ext", "3 mV")


def test_base_unit_declaration_without_a_matching_parameter_shows_internal_unit():
    m = Model("dv/dt = -v/tau : volt\nI = v/R : amp", params={"tau": "10 ms", "R": "1 Gohm"})
    assert m.display_unit("I") == "pA"


def test_to_internal_current_from_nA():
    m = lif()
    assert m.display_unit("I") == "nA"
    assert float(m.to_internal("I", "0.1 nA")) == pytest.approx(100.0)
    assert float(m.to_internal("I", 0.1)) == pytest.approx(100.0)
    assert float(m.time_to_internal("1 s")) == 1000.0
    assert float(m.time_to_internal(20)) == 20.0
    with pytest.raises(UnitError):
        m.time_to_internal("1 mV")


def test_stimulus_is_scaled():
    from biosnn.stimulus import Stimulus

    m = lif()
    s = m.to_internal("I", Stimulus.pulse(1, 2, 0.1))
    assert float(s(1.5)) == pytest.approx(100.0)


def test_dimensionless_model():
    m = Model(FHN, params=FHN_PARAMS)
    assert m.time_dimensionless and m.time_unit == "1" and m.display_unit("t") == "1"
    assert m.display_unit("v") == "1"
    assert float(m.time_to_internal(100)) == 100.0
    v, w, eps, b = map(sym, ["v", "w", "eps", "b"])
    assert m.jacobian == sympy.Matrix([[1 - v**2, -1], [eps, -b * eps]])


def test_explicit_dimensionless_time_with_units_elsewhere():
    m = Model("dv/dt = (E - v)/tau : volt", params={"E": "-65 mV", "tau": 10}, time="1")
    assert m.time_dimensionless
    with pytest.raises(UnitError, match="the equation needs voltage"):
        Model("dv/dt = (E - v)/tau : volt", params={"E": "-65 mV", "tau": "10 ms"}, time="1")


def test_declared_parameter_with_number_default_uses_declared_unit():
    m = Model("dv/dt = -v/tau : volt\ntau : second (constant)", params={"tau": 10})
    assert m.display_unit("tau") == "ms" and m.params["tau"] == 10.0
    m = Model("dv/dt = -v/tau : volt\ntau : ms", params={"tau": "0.01 s"})
    assert m.display_unit("tau") == "s" and m.params["tau"] == pytest.approx(0.01)


# -- the Jacobian and parameter derivatives -------------------------------------------------


def test_jacobian_and_param_derivative_by_hand():
    m = Model(
        """
        dv/dt = (0.04*v**2 + 5*v + 140 - u + I)/ms : 1
        du/dt = a*(b*v - u)/ms : 1
        """,
        params=dict(a=0.02, b=0.2, c=-65, d=8, I=10),
        threshold="v >= 30",
        reset="v = c; u += d",
    )
    v, u, a, b = map(sym, ["v", "u", "a", "b"])
    assert sympy.simplify(
        m.jacobian - sympy.Matrix([[0.08 * v + 5, -1], [a * b, -a]])
    ) == sympy.zeros(2, 2)
    assert m.param_derivative("a") == sympy.Matrix([[0], [b * v - u]])
    assert m.param_derivative("I") == sympy.Matrix([[1], [0]])
    with pytest.raises(ModelError, match="not a parameter"):
        m.param_derivative("v")


def test_hh_jacobian_entry(hh):
    V, m, h, C, gNa = map(sym, ["V", "m", "h", "C", "gNa"])
    ENa = sym("ENa")
    assert sympy.simplify(hh.jacobian[0, 1] - (-3 * gNa * m**2 * h * (V - ENa) / C)) == 0
    dC = hh.param_derivative("C")
    assert sympy.simplify(dC[0] + hh.rhs["V"] / C) == 0
    assert dC[1:, 0] == sympy.zeros(3, 1)


# -- exact unit-error messages --------------------------------------------------------------


def test_unit_error_message_names_equation_term_and_dimensions():
    eqs = """
    # leaky membrane
    dv/dt = (El - v)/tau + I : volt
    """
    with pytest.raises(UnitError) as info:
        Model(eqs, params={"El": "-65 mV", "tau": "10 ms", "I": "1 nA"})
    assert str(info.value) == (
        'line 3: in "dv/dt = (El - v)/tau + I : volt", the term I has units of current '
        "(amp) but the equation needs voltage/time (volt/second)"
    )


@pytest.mark.parametrize(
    "eqs, params, message",
    [
        (
            "dv/dt = -v : volt",
            {},
            'line 1: in "dv/dt = -v : volt", the right-hand side -v has units of voltage '
            "(volt) but the "
            "equation needs voltage/time (volt/second)",
        ),
        (
            "dv/dt = exp(v)/tau : volt",
            {"tau": "1 ms"},
            'line 1: in "dv/dt = exp(v)/tau : volt", the argument of exp(), v, has units of '
            "voltage (volt) but must be dimensionless",
        ),
        (
            "dv/dt = (v + I)/tau : volt",
            {"tau": "1 ms", "I": "1 nA"},
            'line 1: in "dv/dt = (v + I)/tau : volt", the terms of a sum must agree: I has units '
            "of current (amp) but v has units of voltage (volt)",
        ),
        (
            "dv/dt = -v/tau : volt\nI = g*v : amp",
            {"tau": "1 ms", "g": "1 mS/cm**2"},
            'line 2: in "I = g*v : amp", the right-hand side g*v has units of current/area '
            "(amp/meter**2) but the "
            "alias is declared as current (amp)",
        ),
    ],
)
def test_unit_errors_exact(eqs, params, message):
    with pytest.raises(UnitError) as info:
        Model(eqs, params=params)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "kw, message",
    [
        (
            dict(threshold="v > 1*nA"),
            "in threshold 'v > 1*nA', the sides of v > 1*nA must "
            "agree: 1*nA has units of current (amp) but v has units of voltage (volt)",
        ),
        (
            dict(threshold="v + 1*mV"),
            "v + 1*mV has units of voltage (volt) but a threshold must be a condition",
        ),
        (
            dict(reset="v = 1*nA"),
            "in reset 'v = 1*nA', 1*nA has units of current (amp) but v needs voltage (volt)",
        ),
        (dict(reset="v *= 2*mV"), "the factor of *= must be a dimensionless value"),
        (
            dict(refractory="1 mV"),
            "refractory '1 mV' has units of voltage (volt) but must be a time",
        ),
        (
            dict(initial={"v": "1 nA"}),
            "initial v = '1 nA' has units of current (amp) but v needs voltage (volt)",
        ),
        (
            dict(params={**LIF_PARAMS, "tau": "10 mV"}),
            "the term (El - v)/tau has no units "
            "(dimensionless) but the equation needs voltage/time (volt/second)",
        ),
    ],
)
def test_event_and_value_unit_errors(kw, message):
    with pytest.raises(UnitError) as info:
        lif(**kw)
    assert message in str(info.value)


# -- other errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "eqs, kw, message",
    [
        (
            "dv/dt = -v/tua : volt",
            dict(params={"tau": "1 ms"}),
            r"line 1, column 12: in \"dv/dt = -v/tua : volt\", tua is not defined \(did you mean "
            r"tau\?\)",
        ),
        (
            "dv/dt = -v/tau : volt\ndv/dt = 0*mV/ms : volt",
            dict(params={"tau": "1 ms"}),
            "v is defined twice",
        ),
        (
            "dv/dt = a - v/tau : volt\na = b : volt/second\nb = c : volt/second\n"
            "c = a : volt/second",
            dict(params={"tau": "1 ms"}),
            "circular definition of aliases: a -> b -> c -> a",
        ),
        (
            "dv/dt = -v/tau : volt\ntau : second",
            dict(),
            "parameter tau is declared "
            r"\('tau : second'\) but has no value",
        ),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "1 ms", "x": float("nan")}),
            "x = nan is not a finite number",
        ),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "-1 ms"}),
            "tau = -1 ms: a time constant must be > 0",
        ),
        ("dv/dt = -v/tau : volt", dict(params={"tau": "0 ms"}), "a time constant must be > 0"),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "1 ms"}, initial={"w": 1}),
            r"initial: w is not a state of the model \(states: v\)",
        ),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "1 ms"}, initial={"tau": 1}),
            "tau is a parameter, not a state",
        ),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "1 ms"}, reset="w = 0*mV"),
            "w is not a state of the model",
        ),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "1 ms"}, reset="tau = 1*ms"),
            "tau is a parameter, not a state",
        ),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "1 ms"}, presets={"x": {"tua": 1}}),
            r"preset 'x': tua is not a parameter \(did you mean tau\?\)",
        ),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "1 ms"}, presets={"x": {"tau": "1 mV"}}),
            "preset 'x' tau = '1 mV' has units of voltage",
        ),
        (
            "dv/dt = -v/tau : volt\nI = 0*nA : amp",
            dict(params={"tau": "1 ms", "I": "1 nA"}),
            "I is an alias",
        ),
        ("x = 1 : 1", dict(), "no differential equation"),
        (
            "dv/dt = -v/tau + xi : volt\nI = xi*nA : amp",
            dict(params={"tau": "1 ms"}),
            "white noise",
        ),
        ("dv/dt = -v + xi**2 : 1", dict(), "must enter linearly"),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "1 ms"}, initial={"v": "w"}),
            "w is not defined",
        ),
        ("dv/dt = -v/tau : volt", dict(params={"tau": "1 ms", "t": 1}), "reserved"),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "1 ms"}, refractory="v*ms/mV"),
            "may depend on parameters only",
        ),
        ("dv/dt = -v/tau : volt", dict(params={"tau": [1, 2]}), "a default must be"),
        (
            "dv/dt = -v/tau : volt",
            dict(params={"tau": "1 ms"}, initial={"v": float("inf")}),
            "initial v = inf is not a finite number",
        ),
    ],
)
def test_model_errors(eqs, kw, message):
    with pytest.raises(ModelError, match=message):
        Model(eqs, **kw)


def test_initial_depending_on_later_state():
    with pytest.raises(ModelError, match="not given before"):
        Model(
            "dv/dt = -v/tau : volt\ndw/dt = -w/tau : volt",
            params={"tau": "1 ms"},
            initial={"v": "w", "w": "1 mV"},
        )
    m = Model(
        "dv/dt = -v/tau : volt\ndw/dt = -w/tau : volt",
        params={"tau": "1 ms"},
        initial={"w": "2 mV", "v": "2*w"},
    )
    assert dict(m.initial) == {"v": 4.0, "w": 2.0}


def test_initial_state_with_parameter_arrays():
    m = Model(
        "dv/dt = (E - v)/tau : volt",
        params={"E": "-65 mV", "tau": "1 ms"},
        initial={"v": "E + 1*mV"},
    )
    values = m.initial_state({"E": np.array([-70.0, -60.0])})
    np.testing.assert_allclose(values["v"], [-69.0, -59.0])
    assert m.initial_exprs["v"] == sym("E") + 1


# -- identity, immutability, presets --------------------------------------------------------


def test_hash_eq_and_frozen():
    a, b = lif(), lif()
    assert a == b and hash(a) == hash(b) and a.key == b.key and len(a.key) == 64
    assert a is not b and {a: 1}[b] == 1
    c = a.with_params(tau=20)
    assert c != a and c.params["tau"] == 20.0 and a.params["tau"] == 10.0
    assert a.with_params(tau="10 ms") == a  # same content, same identity
    with pytest.raises(AttributeError):
        a.name = "x"
    with pytest.raises(TypeError):
        a.params["tau"] = 3
    assert pickle.loads(pickle.dumps(a)) == a
    # the text layout does not matter, the content does
    same = Model(
        "  dv/dt = (El-v)/tau + I/C : volt (unless refractory)  # c",
        params=LIF_PARAMS,
        initial={"v": "-65 mV"},
        threshold="v > -50*mV",
        reset="v = El",
        refractory="2 ms",
        name="lif",
    )
    assert same == a


def test_with_params_units_and_errors():
    m = lif()
    assert m.with_params(I="100 pA").params["I"] == pytest.approx(0.1)
    assert m.with_params(I="100 pA").display_unit("I") == "nA"
    with pytest.raises(ModelError, match=r"tua is not a parameter .*did you mean tau"):
        m.with_params(tua=1)
    with pytest.raises(UnitError):
        m.with_params(tau="1 mV")
    with pytest.raises(ModelError, match="simulate"):
        m.with_params(tau=np.array([1.0, 2.0]))


def test_presets():
    m = Model(
        "dv/dt = (0.04*v**2 + 5*v + 140 - u + I)/ms : 1\ndu/dt = a*(b*v - u)/ms : 1",
        params=dict(a=0.02, b=0.2, c=-65, d=8, I=10),
        presets={"FS": {"description": "fast spiking", "a": 0.1}},
    )
    assert dict(m.presets) == {"FS": "fast spiking"}
    assert m.with_preset("FS").params["a"] == 0.1
    with pytest.raises(ModelError, match=r"has no preset 'RS'.*presets: FS"):
        m.with_preset("RS")


# -- display --------------------------------------------------------------------------------


def test_repr_and_latex(hh):
    text = repr(hh)
    assert "Model 'hodgkin_huxley' (4 states, 8 parameters)" in text
    assert "I_ext = 0 uA/cm**2" in text and "dV/dt = (I_ext - I_Na - I_K - I_L)/C" in text
    latex = hh._repr_latex_()
    assert latex.startswith("$\\begin{aligned}") and "\\frac{dV}{dt}" in latex


def test_noise_model():
    m = Model(
        "dv/dt = -v/tau + sigma*xi/sqrt(tau) : volt\ndw/dt = -w/tau + sigma*xi_2/sqrt(tau) : volt",
        params={"tau": "10 ms", "sigma": "1 mV"},
    )
    assert m.noises == ("xi", "xi_2")
    tau, sigma = sym("tau"), sym("sigma")
    assert m.noise["v"] == (sigma / sympy.sqrt(tau), 0)
    assert m.noise["w"] == (0, sigma / sympy.sqrt(tau))
    assert m.rhs["v"] == -sym("v") / tau


def test_initial_names_are_variables_before_units():
    # 'h' is pint's hour and 'm' its meter; in a model they are the states
    m = Model("dm/dt = -m/ms : 1\ndh/dt = -h/ms : 1", initial={"m": "0.5", "h": "2*m"})
    assert dict(m.initial) == {"m": 0.5, "h": 1.0}
    fhn = Model("dv/dt = v - w : 1\ndw/dt = -w : 1", initial={"v": 1, "w": "2*v"})
    assert fhn.time_dimensionless and dict(fhn.initial) == {"v": 1.0, "w": 2.0}


def test_initial_number_is_in_display_unit():
    m = Model(
        "dv/dt = (E - v)/tau : volt", params={"E": "-65 mV", "tau": "1 ms"}, initial={"v": -70}
    )
    assert m.initial_exprs["v"] == -70 and m.initial["v"] == -70.0


def test_evaluate_knows_every_kernel_construct():
    from sympy.codegen.cfunctions import expm1, log1p

    from biosnn.codegen.functions import XOverExpm1
    from biosnn.equations.model import evaluate

    x, y = sym("x"), sym("y")
    values = {"x": np.array([0.0, 1.0]), "y": np.array([2.0, -1.0])}
    expr = (
        XOverExpm1(x)
        + expm1(x)
        + log1p(x)
        + sympy.Min(x, y)
        + sympy.Abs(y)
        + sympy.Piecewise((1, sympy.And(x > 0, y < 0)), (0, True))
        + sympy.floor(y / 3)
    )
    want = (
        np.array([1.0, 1 / np.expm1(1.0)])
        + np.expm1([0.0, 1.0])
        + np.log1p([0.0, 1.0])
        + np.array([0.0, -1.0])
        + np.array([2.0, 1.0])
        + np.array([0.0, 1.0])
        + np.floor(np.array([2.0, -1.0]) / 3)
    )
    np.testing.assert_allclose(evaluate(expr, values), want, rtol=1e-14)


def test_building_a_model_does_not_import_sympy():
    import subprocess
    import sys

    code = (
        "import sys, biosnn\n"
        "m = biosnn.Model('dv/dt = (El - v)/tau + I/C : volt', params={'El': '-65 mV', "
        "'tau': '10 ms', 'I': '0.1 nA', 'C': '100 pF'}, threshold='v > -50*mV', "
        "reset='v = El', refractory='2 ms')\n"
        "assert m.params['I'] == 0.1 and m.display_unit('I') == 'nA' and m.key\n"
        "assert float(m.to_internal('I', 1)) == 1000.0 and m.structure_key\n"
        "assert 'sympy' not in sys.modules, 'sympy was imported'\n"
        "assert m.rhs['v'] is not None and 'sympy' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_checks_happen_at_construction_without_sympy():
    # errors that need the equations' structure are found by the checking pass
    with pytest.raises(ModelError, match="must enter linearly"):
        Model("dv/dt = -v/tau + exp(xi*sqrt(ms))*mV/ms : volt", params={"tau": "1 ms"})
    with pytest.raises(ModelError, match="depends on no state"):
        Model("dv/dt = -v/tau : volt", params={"tau": "1 ms"}, threshold="1*mV > 0*mV")
    with pytest.raises(ModelError, match="a time constant must be > 0"):
        Model("dv/dt = -v*tau**-1 : volt", params={"tau": "-1 ms"})
    m = Model("dv/dt = -v/tau : volt", params={"tau": "1 ms", "t0": "-5 ms"})
    assert m.params["t0"] == -5.0  # a time that is not a time constant may be <= 0
