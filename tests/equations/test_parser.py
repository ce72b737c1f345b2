"""The equation parser: Brian2 syntax, the expression whitelist, sympy construction."""

import pytest
import sympy

from biosnn.codegen import functions as fn
from biosnn.equations.parser import (
    BOOL,
    parse_equations,
    parse_expression,
    parse_expression_text,
    parse_reset,
)
from biosnn.errors import ModelError, UnitError
from biosnn.units import parse_unit

V = parse_unit("volt")[1]
S = parse_unit("second")[1]
A = parse_unit("amp")[1]
ONE = parse_unit("1")[1]


def sym(name):
    return sympy.Symbol(name, real=True)


NS = {
    "v": (sym("v"), V),
    "El": (sym("El"), V),
    "tau": (sym("tau"), S),
    "I": (sym("I"), A),
    "x": (sym("x"), ONE),
    "y": (sym("y"), ONE),
}


def convert(text):
    return parse_expression(text, NS)


# -- statements -----------------------------------------------------------------------------


def test_statement_kinds_flags_comments_and_lines():
    text = """
    dv/dt = (El - v)/tau + I/C : volt (unless refractory)   # membrane
    # a comment line
    I = g*(E -
           v) : amp
    tau : second (constant)
    dx/dt = -x/tau : 1
    """
    stmts = parse_equations(text, first_line=10)
    assert [(s.kind, s.name, s.unit, s.flags, s.line) for s in stmts] == [
        ("diff", "v", "volt", ("unless refractory",), 11),
        ("alias", "I", "amp", (), 13),
        ("param", "tau", "second", ("constant",), 15),
        ("diff", "x", "1", (), 16),
    ]
    assert stmts[1].expr.names == {"g", "E", "v"}
    assert stmts[0].canonical == "dv/dt = (El - v) / tau + I / C : volt (unless refractory)"


def test_unit_with_parentheses_is_not_a_flag():
    (s,) = parse_equations("I = g : amp/(meter**2)")
    assert s.unit == "amp/(meter**2)" and s.flags == ()


@pytest.mark.parametrize(
    "text, message",
    [
        ("dv/dt = -v/tau", "has no unit"),
        ("dv/dt = -v/tau : volt (shared)", r"flag \(shared\) is not supported"),
        ("tau : second (unless refractory)", "not supported"),
        ("dv/dt = -v/tau : frobnitz", "unknown unit"),
        ("import os : 1", "cannot read"),
        ("dv/dt = (v : volt", "never closed"),
        ("d_v/dt = -_v : volt", "reserved"),
        ("dt : second", "reserved"),
        ("dxi/dt = 0 : 1", "white-noise"),
        ("int = 1 : 1", "C keyword"),
        ("lambda = 1 : 1", "cannot read|keyword"),
        ("dexp/dt = 1 : 1", "function"),
    ],
)
def test_bad_statements(text, message):
    with pytest.raises(ModelError, match=message):
        parse_equations(text)


def test_errors_name_the_line_in_the_file():
    with pytest.raises(ModelError) as info:
        parse_equations("dv/dt = -v : volt\n\nx = a.b : 1", first_line=20, source="m.toml")
    assert info.value.line == 22 and info.value.column == 5
    assert str(info.value).startswith("m.toml, line 22, column 5: ")


def test_continuation_lines_report_the_physical_line():
    with pytest.raises(ModelError) as info:
        parse_equations("x = (1 +\n      y[0]) : 1")
    assert (info.value.line, info.value.column) == (2, 7)


# -- the whitelist --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, what",
    [
        ("__import__('os')", "__import__"),
        ("a.b", "attribute access"),
        ("x[0]", "indexing"),
        ("lambda: 0", "lambda"),
        ("open('/etc/passwd')", r"calling open\(\)"),
        ("x^2", r"'\^' \(write \*\* for a power\)"),
        ("'text'", "a string"),
        ("f'{x}'", "f-strings"),
        ("(y := 1)", ":="),
        ("[x for x in y]", "comprehensions"),
        ("1 if x else 2", r"use where\(c, a, b\)"),
        ("x % 2", "operator %"),
        ("x // 2", "operator //"),
        ("x @ y", "operator @"),
        ("~x", "operator ~"),
        ("x is y", "operator is"),
        ("x in y", "operator in"),
        ("exp(x=1)", "keyword"),
        ("exp(*x)", "keyword or starred|starred"),
        ("min(x, y)", r"use minimum"),
        ("(1, 2)", "tuples"),
        ("{1: 2}", "dicts"),
        ("().__class__", "attribute"),
        ("_x + 1", "names starting with '_'"),
        ("1j", "constant"),
        ("exp(1, 2)", "takes 1 argument"),
    ],
)
def test_whitelist_refuses(text, what):
    with pytest.raises(ModelError, match=what) as info:
        parse_expression_text(text, line=7, col=4)
    assert info.value.line == 7 and info.value.column is not None
    assert info.value.column >= 5


@pytest.mark.parametrize(
    "text",
    [
        "import os",
        "exec('1')",
        "x = 1",
        "def f(): pass",
        "eval('1')",
        "getattr(x, 'y')",
        "globals()",
    ],
)
def test_statements_and_builtins_are_refused(text):
    with pytest.raises(ModelError):
        parse_expression_text(text)


def test_whitelist_column_of_nested_construct():
    with pytest.raises(ModelError) as info:
        parse_expression_text("1 + exp(x.real)")
    assert info.value.column == 9


def test_no_eval_is_used(monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must not be called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sympy, "sympify", forbidden)
    expr, _ = convert("exp(-(v - El)/(10*mV)) + x**2")
    assert expr.has(sympy.exp)


# -- conversion -----------------------------------------------------------------------------


def test_numbers_names_and_units():
    expr, dim = convert("-65*mV + v")
    assert expr == sym("v") - 65 and dim == V
    expr, dim = convert("0.1*nA")
    assert float(expr) == 100.0 and dim == A
    expr, dim = convert("2*x**3 - 1.5")
    assert expr == 2 * sym("x") ** 3 - sympy.Float(1.5) and dim == ONE


@pytest.mark.parametrize(
    "text, expected",
    [
        ("exp(x)", sympy.exp(sym("x"))),
        ("log10(x)", sympy.log(sym("x")) / sympy.log(10)),
        ("sqrt(x)", sympy.sqrt(sym("x"))),
        # the non-smooth functions are biosnn's subclasses of sympy's (derivatives that print)
        ("abs(x)", fn.Abs(sym("x"))),
        ("sign(x)", fn.sign(sym("x"))),
        ("floor(x) + ceil(y)", fn.floor(sym("x")) + fn.ceiling(sym("y"))),
        ("clip(x, 0, 1)", fn.Min(fn.Max(sym("x"), 0), 1)),
        ("heaviside(x)", sympy.Piecewise((1, sym("x") > 0), (0, True))),
        ("minimum(x, y) + maximum(x, y)", fn.Min(sym("x"), sym("y")) + fn.Max(sym("x"), sym("y"))),
        ("where(x > 0, x, y)", sympy.Piecewise((sym("x"), sym("x") > 0), (sym("y"), True))),
        ("ifelse(x > 0, x, y)", sympy.Piecewise((sym("x"), sym("x") > 0), (sym("y"), True))),
        (
            "tanh(x) + sinh(x) + cosh(x)",
            sympy.tanh(sym("x")) + sympy.sinh(sym("x")) + sympy.cosh(sym("x")),
        ),
        (
            "sin(x) * cos(x) / tan(x)",
            sympy.sin(sym("x")) * sympy.cos(sym("x")) / sympy.tan(sym("x")),
        ),
        ("log(x)", sympy.log(sym("x"))),
    ],
)
def test_functions(text, expected):
    expr, dim = convert(text)
    assert expr == expected and dim == ONE


def test_booleans():
    expr, dim = convert("0 < x <= 1 and not y > 2 or x == y")
    x, y = sym("x"), sym("y")
    assert dim == BOOL
    assert expr == sympy.Or(sympy.And(sympy.Lt(0, x), x <= 1, sympy.Not(y > 2)), sympy.Eq(x, y))
    expr, dim = convert("(x > 0)*y")
    assert expr == sympy.Piecewise((1, x > 0), (0, True)) * y and dim == ONE


def test_dimensions_propagate():
    assert convert("v/tau")[1] == V / S
    assert convert("sqrt(tau)")[1] == S**0.5
    assert convert("tau**2")[1] == S**2
    assert convert("abs(v) + minimum(v, El)")[1] == V
    assert convert("v + 0")[1] == V  # a literal 0 fits every unit
    assert convert("v > 0")[1] == BOOL


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "v + I",
            "the terms of a sum must agree: I has units of current (amp) but v has units "
            "of voltage (volt)",
        ),
        (
            "exp(v)",
            "the argument of exp(), v, has units of voltage (volt) but must be dimensionless",
        ),
        ("v > I", "the sides of v > I must agree"),
        ("tau**v", "the exponent v has units of voltage"),
        ("v**x", "its exponent x must be a number"),
        ("minimum(v, tau)", "the arguments of minimum() must agree"),
        ("where(x, 1, 2)", "not a condition"),
        ("where(x > 0, v, I)", "the two values of where() must agree"),
    ],
)
def test_unit_errors(text, message):
    with pytest.raises(UnitError) as info:
        convert(text)
    assert message in str(info.value)


def test_undefined_name_suggests():
    with pytest.raises(ModelError, match=r"tua is not defined \(did you mean tau\?\)"):
        convert("v/tua")


def test_user_names_shadow_units():
    m = sym("m")
    expr, dim = parse_expression("m*mV", {"m": (m, ONE)})
    assert expr == m and dim == V


def test_pi_and_constants():
    assert convert("2*pi")[0] == 2 * sympy.pi


def test_reset_statements():
    stmts = parse_reset("v = c; u += d\n w -= 1 ;z*=2\nq /= (1 +\n 2)")
    assert [(r.name, r.op, r.expr.text) for r in stmts] == [
        ("v", "=", "c"),
        ("u", "+=", "d"),
        ("w", "-=", "1"),
        ("z", "*=", "2"),
        ("q", "/=", "(1 +\n 2)"),
    ]
    assert [r.line for r in stmts] == [1, 1, 2, 2, 3]
    with pytest.raises(ModelError, match="reset statement"):
        parse_reset("v == 1")
    with pytest.raises(ModelError, match="attribute"):
        parse_reset("v = os.system")


# -- untrusted input must not hang or crash -------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "9**9**9**9",
        "10**400",
        "1e999",
        "0**-1",
        "(-8)**0.5",
        "+".join(["x"] * 5000),
        "(" * 300 + "1" + ")" * 300,
        "x" * 30000,
    ],
)
def test_hostile_expressions_fail_cleanly(text):
    with pytest.raises(ModelError):
        convert(text)


def test_number_powers_are_evaluated_in_floating_point():
    assert convert("2**3")[0] == 8
    assert float(convert("2**0.5")[0]) == pytest.approx(2**0.5)


@pytest.mark.parametrize("unit", ["cm**(10**10)", "1/0", "m" * 2000, "cm**-400"])
def test_hostile_units_fail_cleanly(unit):
    from biosnn.units import parse_unit

    with pytest.raises(UnitError):
        parse_unit(unit)


def test_exprel_from_brian2_is_safe_at_zero():
    from biosnn.codegen.functions import XOverExpm1

    expr, dim = convert("exprel(x)")
    assert expr == 1 / XOverExpm1(sym("x")) and dim == ONE
    assert expr.subs(sym("x"), 0) == 1
    # the Brian2 way of writing an HH rate: x/(exp(x) - 1) without a singularity
    expr, _ = convert("2/exprel(x)")
    assert expr == 2 * XOverExpm1(sym("x"))
    with pytest.raises(UnitError, match="argument of exprel"):
        convert("exprel(v)")


def test_powers_of_units_carry_the_power_of_the_dimension():
    # Brian2's COBAHH example writes 0.32*(mV**-1)*(13*mV - v + VT): a rate per voltage
    # times a voltage.  mV**-1 must have the dimension 1/voltage, not voltage.
    from biosnn import Model

    m = Model("dv/dt = 0.32*(mV**-1)*(13*mV - v)*mV/ms : volt", init={"v": "0 mV"})
    assert m.states == ("v",)
    m = Model("dv/dt = (mV**2)**0.5*(13*mV - v)/mV/ms : volt", init={"v": "0 mV"})
    with pytest.raises(UnitError, match="voltage/time"):
        Model("dv/dt = mV**2*(13*mV - v)/ms : volt", init={"v": "0 mV"})
