"""Units: Brian2 names, the internal unit system, parsing without eval, readable names."""

import pytest

from biosnn.errors import UnitError
from biosnn.units import (format_dimension, internal_unit_name, is_base_unit_text,
                          is_unit_name, parse_quantity, parse_unit, registry)


def approx(x):
    return pytest.approx(x, rel=1e-12)


@pytest.mark.parametrize("text, factor, internal", [
    ("volt", 1e3, "mV"), ("mV", 1.0, "mV"), ("uV", 1e-3, "mV"),
    ("amp", 1e12, "pA"), ("nA", 1e3, "pA"), ("pA", 1.0, "pA"), ("uA", 1e6, "pA"),
    ("mA", 1e9, "pA"),
    ("siemens", 1e9, "nS"), ("mS", 1e6, "nS"), ("uS", 1e3, "nS"), ("nS", 1.0, "nS"),
    ("farad", 1e12, "pF"), ("uF", 1e6, "pF"), ("nF", 1e3, "pF"), ("pF", 1.0, "pF"),
    ("ohm", 1e-9, "GOhm"), ("kohm", 1e-6, "GOhm"), ("Mohm", 1e-3, "GOhm"),
    ("Gohm", 1.0, "GOhm"),
    ("second", 1e3, "ms"), ("ms", 1.0, "ms"), ("us", 1e-3, "ms"),
    ("Hz", 1e-3, "1/ms"), ("kHz", 1.0, "1/ms"),
    ("meter", 1e6, "um"), ("metre", 1e6, "um"), ("cm", 1e4, "um"), ("mm", 1e3, "um"),
    ("um", 1.0, "um"),
    ("molar", 1e3, "mM"), ("mM", 1.0, "mM"), ("uM", 1e-3, "mM"), ("mmolar", 1.0, "mM"),
    ("umolar", 1e-3, "mM"),
    ("coulomb", 1e15, "fC"), ("kelvin", 1.0, "K"), ("1", 1.0, "1"),
    ("cm**2", 1e8, "um**2"), ("cm2", 1e8, "um**2"), ("um2", 1.0, "um**2"),
    ("uA/cm**2", 0.01, "pA/um**2"), ("mS/cm**2", 0.01, "nS/um**2"),
    ("uF/cm**2", 0.01, "pF/um**2"), ("1/ms", 1.0, "1/ms"), ("volt/second", 1.0, "mV/ms"),
    ("nS*ms", 1.0, "pF"), ("mV/(ms**2)", 1.0, "mV/ms**2"),
])
def test_brian2_unit_names(text, factor, internal):
    f, dim = parse_unit(text)
    assert f == approx(factor)
    assert internal_unit_name(dim) == internal


def test_internal_system_is_coherent():
    # conductance * voltage = current, capacitance * voltage / time = current
    assert parse_unit("nS*mV") == (1.0, parse_unit("pA")[1])
    assert parse_unit("pF*mV/ms") == (1.0, parse_unit("pA")[1])
    assert parse_unit("pA*ms") == (1.0, parse_unit("fC")[1])
    assert parse_unit("amol/um**3")[0] == approx(1.0)
    assert parse_unit("GOhm*pA")[0] == approx(1.0)


def test_quantities_from_the_contract():
    value, dim, unit = parse_quantity("10 uA/cm**2")
    assert value == approx(0.1) and unit == "uA/cm**2"
    assert format_dimension(dim) == "current/area (amp/meter**2)"
    assert parse_quantity("120 mS/cm**2")[0] == approx(1.2)
    assert parse_quantity("0.1 nA")[0] == approx(100.0)
    assert parse_quantity("-65 mV")[:1] == (-65.0,)
    assert parse_quantity("10 ms")[0] == 10.0
    assert parse_quantity("1 s")[0] == 1000.0
    assert parse_quantity("1e-3 s")[0] == approx(1.0)
    value, dim, unit = parse_quantity("1/ms")
    assert (value, unit, internal_unit_name(dim)) == (1.0, "1/ms", "1/ms")
    assert parse_quantity("0.02")[2] == "1"
    assert parse_quantity("2 *mV")[0] == 2.0


def test_noise_unit_has_half_powers():
    factor, dim = parse_unit("second**-0.5")
    assert dim == parse_unit("second")[1] ** -0.5
    assert factor == approx(1000**-0.5)


@pytest.mark.parametrize("text, words", [
    ("volt", "voltage (volt)"),
    ("amp/meter**2", "current/area (amp/meter**2)"),
    ("volt/second", "voltage/time (volt/second)"),
    ("siemens/cm**2", "conductance/area (siemens/meter**2)"),
    ("ms", "time (second)"),
    ("1", "dimensionless (1)"),
])
def test_format_dimension(text, words):
    assert format_dimension(parse_unit(text)[1]) == words


@pytest.mark.parametrize("bad", ["__import__('os').system('true')", "a.b", "x[0]",
                                 "lambda: 1", "cm^2", "foo", "", "open('f')"])
def test_bad_units_are_refused_without_eval(bad):
    with pytest.raises(UnitError):
        parse_unit(bad)


def test_caret_has_a_hint():
    with pytest.raises(UnitError, match=r"\*\*"):
        parse_unit("uA/cm^2")


def test_quantity_needs_a_number():
    with pytest.raises(UnitError, match="number with a unit"):
        parse_quantity("mV")


def test_unit_names_in_equations_are_brian2_only():
    assert is_unit_name("mV") and is_unit_name("cm2") and is_unit_name("siemens")
    assert not is_unit_name("tau") and not is_unit_name("h")  # pint's hour is not a name
    assert not is_unit_name("m2")


def test_base_unit_text():
    assert is_base_unit_text("volt") and is_base_unit_text("amp/meter**2")
    assert not is_base_unit_text("mV") and not is_base_unit_text("uA/cm**2")


def test_registry_is_cached():
    assert registry() is registry()


@pytest.mark.parametrize("text", ["volt", "amp/meter**2", "1/volt", "volt**2", "meter/volt",
                                  "second**-0.5", "siemens/volt", "coulomb/mole", "kg",
                                  "mole/meter**3/second", "1"])
def test_internal_unit_names_round_trip(text):
    dim = parse_unit(text)[1]
    factor, again = parse_unit(internal_unit_name(dim))
    assert again == dim and factor == approx(1.0)
