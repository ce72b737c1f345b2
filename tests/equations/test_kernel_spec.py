"""Model.kernel_spec(): the lowered form every backend prints."""

import pytest
import sympy

from biosnn import Model
from biosnn.codegen.spec import KernelSpec


def sym(name):
    return sympy.Symbol(name, real=True)


LIF_PARAMS = {"El": "-65 mV", "tau": "10 ms", "I": "0.2 nA", "C": "200 pF", "t_ref": "2 ms"}


def lif(**kw):
    args = dict(
        params=LIF_PARAMS,
        init={"v": "-65 mV"},
        threshold="v > -50*mV",
        reset="v = El",
        refractory="2 ms",
        name="lif",
    )
    args.update(kw)
    return Model(
        "dv/dt = (El - v)/tau + I/C : volt (unless refractory)\ndw/dt = -w/tau : 1", **args
    )


IZH = """
dv/dt = (0.04*v**2 + 5*v + 140 - u + I)/ms : 1
du/dt = a*(b*v - u)/ms : 1
"""
IZH_PARAMS = dict(a=0.02, b=0.2, c=-65, d=8, I=10)


def test_lif_spec_fields():
    m = lif()
    spec = m.kernel_spec()
    assert isinstance(spec, KernelSpec) and spec is m.kernel_spec()  # cached
    v, w, El, tau, I, C = map(sym, ["v", "w", "El", "tau", "I", "C"])
    assert spec.name == "lif" and spec.states == ("v", "w")
    assert spec.params == ("El", "tau", "I", "C", "t_ref")
    assert spec.noises == () and spec.g == ()
    assert spec.t == sym("t")
    assert spec.f == ((El - v) / tau + I / C, -w / tau)
    assert spec.jac == ((-1 / tau, 0), (0, -1 / tau))
    assert spec.dfdt == (0, 0)
    assert spec.threshold == (v > -50) and spec.crossing == v + 50
    assert spec.reset == ((0, El),)
    assert spec.refractory_time == 2 and spec.refractory_condition is None
    assert spec.unless_refractory == (True, False)
    assert spec.exp_euler == ((-1 / tau, El / tau + I / C), (-1 / tau, 0))
    A, b = spec.linear
    assert A == ((-1 / tau, 0), (0, -1 / tau)) and b == (El / tau + I / C, 0)
    assert not spec.time_dimensionless


def test_refractory_forms():
    t_ref, v = sym("t_ref"), sym("v")
    assert lif(refractory="t_ref").kernel_spec().refractory_time == t_ref
    assert lif(refractory=3).kernel_spec().refractory_time == 3
    assert lif(refractory="0.5 s").kernel_spec().refractory_time == 500
    spec = lif(refractory="v > -60*mV").kernel_spec()
    assert spec.refractory_time is None and spec.refractory_condition == (v > -60)


@pytest.mark.parametrize(
    "threshold, crossing",
    [
        ("v > -50*mV", "v + 50"),
        ("v >= -50*mV", "v + 50"),
        ("-50*mV < v", "v + 50"),
        ("-50*mV <= v", "v + 50"),
        ("v < -70*mV", "-v - 70"),
    ],
)
def test_crossing_of_single_relations(threshold, crossing):
    v = sym("v")
    spec = lif(threshold=threshold).kernel_spec()
    assert sympy.expand(spec.crossing - eval(crossing, {"v": v})) == 0  # test-side only


def test_compound_threshold_has_no_crossing():
    spec = lif(threshold="v > -50*mV and w > 0").kernel_spec()
    assert spec.crossing is None and isinstance(spec.threshold, sympy.And)


def test_reset_order_and_augmented_assignment():
    m = Model(IZH, params=IZH_PARAMS, threshold="v >= 30", reset="v = c; u += d")
    spec = m.kernel_spec()
    assert spec.reset == ((0, sym("c")), (1, sym("u") + sym("d")))
    assert spec.crossing == sym("v") - 30
    m = Model(IZH, params=IZH_PARAMS, reset="u *= 2\nv -= 1; u /= d")
    assert m.kernel_spec().reset == ((1, 2 * sym("u")), (0, sym("v") - 1), (1, sym("u") / sym("d")))


def test_exp_euler_for_nonlinear_models():
    v, u, a, b = map(sym, ["v", "u", "a", "b"])
    spec = Model(IZH, params=IZH_PARAMS).kernel_spec()
    assert spec.exp_euler[0] is None  # v**2: not linear in v
    A, B = spec.exp_euler[1]
    assert A == -a and sympy.expand(B - a * b * v) == 0
    assert spec.linear is None


def test_hh_like_exp_euler_and_safe_rewrites():
    m = Model(
        """
        dV/dt = (I - gK*n**4*(V - EK) - gL*(V - EL))/C : volt
        dn/dt = alpha_n*(1 - n) - beta_n*n : 1
        alpha_n = 0.01/mV*(V + 55*mV)/(1 - exp(-(V + 55*mV)/(10*mV)))/ms : Hz
        beta_n = 0.125*exp(-(V + 65*mV)/(80*mV))/ms : Hz
        """,
        params=dict(
            I="0 uA/cm**2",
            gK="36 mS/cm**2",
            gL="0.3 mS/cm**2",
            EK="-77 mV",
            EL="-54.4 mV",
            C="1 uF/cm**2",
        ),
    )
    spec = m.kernel_spec()
    V, n = sym("V"), sym("n")
    A_V, B_V = spec.exp_euler[0]
    assert not A_V.has(V) and not B_V.has(V)
    A_n, B_n = spec.exp_euler[1]
    assert not A_n.has(n) and not B_n.has(n)
    # the removable singularity of alpha_n at V = -55 mV is gone from f and its Jacobian
    f_n = spec.f[1].subs({V: -55, n: 0.5})
    want = 0.05 - 0.5 * 0.125 * float(sympy.exp(-0.125))
    assert f_n.is_finite and abs(float(f_n) - want) < 1e-12
    assert spec.jac[1][0].subs({V: -55, n: 0.5}).is_finite
    assert spec.linear is None
    assert spec.aliases[0][0] == "alpha_n"


def test_time_dependent_drift_has_dfdt():
    m = Model(
        "dv/dt = (A*sin(2*pi*t/T) - v)/tau : volt",
        params={"A": "1 mV", "T": "100 ms", "tau": "10 ms"},
    )
    spec = m.kernel_spec()
    assert spec.dfdt[0] != 0 and spec.dfdt[0].has(sym("t"))
    assert spec.linear is None  # b depends on t
    assert spec.exp_euler[0] is not None


def test_noise_coefficients():
    m = Model(
        "dv/dt = -v/tau + sigma*xi/sqrt(tau) : volt", params={"tau": "10 ms", "sigma": "1 mV"}
    )
    spec = m.kernel_spec()
    assert spec.noises == ("xi",)
    assert spec.g == ((sym("sigma") / sympy.sqrt(sym("tau")),),)
    assert spec.f == (-sym("v") / sym("tau"),)


def test_dimensionless_spec():
    m = Model(
        "dv/dt = v - v**3/3 - w + I : 1\ndw/dt = eps*(v + a - b*w) : 1",
        params={"I": 0.5, "eps": 0.08, "a": 0.7, "b": 0.8},
    )
    assert m.kernel_spec().time_dimensionless


def test_spec_key_ignores_defaults_but_not_structure():
    a = lif().kernel_spec()
    assert lif(params={**LIF_PARAMS, "tau": "20 ms"}).kernel_spec().key == a.key
    assert lif().with_params(I=3).kernel_spec().key == a.key
    assert lif(threshold="v > -40*mV").kernel_spec().key != a.key
    assert lif(reset="v = El + 1*mV").kernel_spec().key != a.key
    assert lif(name="other").kernel_spec().key != a.key
    assert len(a.key) == 64 and a == lif().kernel_spec()


def test_aliases_fully_substituted():
    m = Model(
        "dv/dt = -I/C : volt\nI = g*(v - E) + J : amp\nJ = k*v : amp",
        params={"C": "1 pF", "g": "1 nS", "E": "0 mV", "k": "1 nS"},
    )
    aliases = dict(m.kernel_spec().aliases)
    v, g, E, k = map(sym, ["v", "g", "E", "k"])
    assert aliases["I"] == g * (v - E) + k * v and aliases["J"] == k * v


def test_structure_key_follows_the_spec_key():
    a = lif()
    same = [
        lif(params={**LIF_PARAMS, "tau": "20 ms"}),
        lif(init={"v": "-70 mV"}),
        a.with_params(I=3),
    ]
    other = [
        lif(threshold="v > -40*mV"),
        lif(reset="v = El + 1*mV"),
        lif(name="x"),
        lif(refractory="3 ms"),
    ]
    for m in same:
        assert m.structure_key == a.structure_key
        assert m.kernel_spec().key == a.kernel_spec().key
    for m in other:
        assert m.structure_key != a.structure_key
        assert m.kernel_spec().key != a.kernel_spec().key


def test_linear_system_whose_right_hand_side_is_a_bare_state():
    # dy/dt = x: the constant term is exactly zero (regression: it came back as a Python int)
    spec = Model("dx/dt = -y : 1\ndy/dt = x : 1").kernel_spec()
    A, b = spec.linear
    assert [[float(a) for a in row] for row in A] == [[0.0, -1.0], [1.0, 0.0]]
    assert [float(v) for v in b] == [0.0, 0.0]


def test_lowering_is_its_own_stage_reading_only_the_symbolic_model():
    from biosnn.codegen.lower import lower
    from biosnn.equations.symbolic import SymbolicModel

    m = lif()
    sm = m.symbolic()
    assert isinstance(sm, SymbolicModel) and sm is m.symbolic()  # built once
    # expected values: the equations of lif() above, read by hand
    assert sm.states == ("v", "w") and sm.params == ("El", "tau", "I", "C", "t_ref")
    assert sm.unless_refractory == (True, False)
    assert sm.statements["w"] == ("dw/dt = -w/tau : 1", 2)
    spec = lower(m)
    assert spec == m.kernel_spec() and spec is not m.kernel_spec()  # same key, new object
    assert spec.f == m.kernel_spec().f


def test_kernel_spec_and_layout_share_one_interface():
    from biosnn.codegen.spec import SYMBOLIC, Kernel, KernelLayout

    m = lif()
    spec, layout = m.kernel_spec(), m.layout
    assert isinstance(spec, Kernel) and isinstance(layout, KernelLayout)
    assert spec == layout and layout == spec and hash(spec) == hash(layout)
    for name in ("name", "key", "states", "params", "noises", "alias_names", "n_states"):
        assert getattr(spec, name) == getattr(layout, name), name
    assert spec.full_spec() is spec and layout.full_spec() is spec
    assert spec.numpy_source is None and spec.numeric("threshold") is None
    assert layout.threshold is SYMBOLIC and spec.threshold is not None
    # the sympy attributes are on the KernelSpec only: no impersonation
    for name in ("f", "jac", "t", "dfdt", "g"):
        assert hasattr(spec, name) and not hasattr(layout, name), name
    # the layout's printed threshold gives the value the sympy threshold means:
    # v > -50 (mV) at v = -40 and not at v = -60
    values = {"v": [-40.0, -60.0], "w": [0.0, 0.0], "t": 0.0}
    assert layout.numeric("threshold")(values)[0].tolist() == [True, False]


def test_check_param_and_arguments_are_public():
    from biosnn.errors import ModelError

    m = lif()
    m.check_param("tau")
    with pytest.raises(ModelError, match="did you mean tau"):
        m.check_param("tua")
    args = m.arguments
    assert args["params"] == LIF_PARAMS and "_origin" not in args
    args["params"]["tau"] = "1 ms"  # a copy: the model is unchanged
    assert m.params["tau"] == 10.0
    assert Model(**m.arguments) == m
