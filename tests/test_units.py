"""Units: Brian2 names, the internal unit system, parsing without eval, readable names,
Dimension algebra and the persistent unit cache (a warm process does not import pint).
"""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biosnn import cache, units
from biosnn.errors import UnitError
from biosnn.units import (
    TIME,
    Dimension,
    dim_from_key,
    dim_key,
    dimensionless,
    format_dimension,
    internal_unit_name,
    is_base_unit_text,
    is_unit_name,
    parse_quantity,
    parse_unit,
    registry,
    unit_name,
)

ROOT = Path(__file__).resolve().parents[1]


def approx(x):
    return pytest.approx(x, rel=1e-12)


@pytest.mark.parametrize(
    "text, factor, internal",
    [
        ("volt", 1e3, "mV"),
        ("mV", 1.0, "mV"),
        ("uV", 1e-3, "mV"),
        ("amp", 1e12, "pA"),
        ("nA", 1e3, "pA"),
        ("pA", 1.0, "pA"),
        ("uA", 1e6, "pA"),
        ("mA", 1e9, "pA"),
        ("siemens", 1e9, "nS"),
        ("mS", 1e6, "nS"),
        ("uS", 1e3, "nS"),
        ("nS", 1.0, "nS"),
        ("farad", 1e12, "pF"),
        ("uF", 1e6, "pF"),
        ("nF", 1e3, "pF"),
        ("pF", 1.0, "pF"),
        ("ohm", 1e-9, "GOhm"),
        ("kohm", 1e-6, "GOhm"),
        ("Mohm", 1e-3, "GOhm"),
        ("Gohm", 1.0, "GOhm"),
        ("second", 1e3, "ms"),
        ("ms", 1.0, "ms"),
        ("us", 1e-3, "ms"),
        ("Hz", 1e-3, "1/ms"),
        ("kHz", 1.0, "1/ms"),
        ("meter", 1e6, "um"),
        ("metre", 1e6, "um"),
        ("cm", 1e4, "um"),
        ("mm", 1e3, "um"),
        ("um", 1.0, "um"),
        ("molar", 1e3, "mM"),
        ("mM", 1.0, "mM"),
        ("uM", 1e-3, "mM"),
        ("mmolar", 1.0, "mM"),
        ("umolar", 1e-3, "mM"),
        ("coulomb", 1e15, "fC"),
        ("kelvin", 1.0, "K"),
        ("1", 1.0, "1"),
        ("cm**2", 1e8, "um**2"),
        ("cm2", 1e8, "um**2"),
        ("um2", 1.0, "um**2"),
        ("uA/cm**2", 0.01, "pA/um**2"),
        ("mS/cm**2", 0.01, "nS/um**2"),
        ("uF/cm**2", 0.01, "pF/um**2"),
        ("1/ms", 1.0, "1/ms"),
        ("volt/second", 1.0, "mV/ms"),
        ("nS*ms", 1.0, "pF"),
        ("mV/(ms**2)", 1.0, "mV/ms**2"),
    ],
)
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


@pytest.mark.parametrize(
    "text, words",
    [
        ("volt", "voltage (volt)"),
        ("amp/meter**2", "current/area (amp/meter**2)"),
        ("volt/second", "voltage/time (volt/second)"),
        ("siemens/cm**2", "conductance/area (siemens/meter**2)"),
        ("ms", "time (second)"),
        ("1", "dimensionless (1)"),
    ],
)
def test_format_dimension(text, words):
    assert format_dimension(parse_unit(text)[1]) == words


@pytest.mark.parametrize(
    "bad",
    ["__import__('os').system('true')", "a.b", "x[0]", "lambda: 1", "cm^2", "foo", "", "open('f')"],
)
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


@pytest.mark.parametrize(
    "text",
    [
        "volt",
        "amp/meter**2",
        "1/volt",
        "volt**2",
        "meter/volt",
        "second**-0.5",
        "siemens/volt",
        "coulomb/mole",
        "kg",
        "mole/meter**3/second",
        "1",
    ],
)
def test_internal_unit_names_round_trip(text):
    dim = parse_unit(text)[1]
    factor, again = parse_unit(internal_unit_name(dim))
    assert again == dim and factor == approx(1.0)


# -- Dimension ------------------------------------------------------------------------------

L, T = Dimension({"[length]": 1}), Dimension({"[time]": 1})


def test_dimension_algebra():
    speed = L / T
    assert speed == Dimension({"[length]": 1, "[time]": -1})
    assert speed * T == L and speed / speed == dimensionless()
    assert (L**2) ** 0.5 == L and (T**-1) ** -1 == T
    assert L**0 == dimensionless() and len(dimensionless()) == 0
    assert dict(speed.items()) == {"[length]": 1, "[time]": -1}
    assert speed["[time]"] == -1 and speed.get("[mass]", 0) == 0 and "[mass]" not in speed
    with pytest.raises(KeyError):
        speed["[mass]"]


def test_equal_dimensions_are_equal_whatever_made_them():
    # 2.0 and 2, zero exponents, item order: one value, one hash (usable as a dict key)
    a = Dimension({"[time]": 2.0, "[length]": 0, "[current]": 1})
    b = Dimension([("[current]", 1), ("[time]", 2)])
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert parse_unit("nS*ms")[1] == parse_unit("pF")[1]  # siemens*second = farad
    assert parse_unit("Hz")[1] == TIME() ** -1 == dimensionless() / TIME()
    assert L != T and L != "boolean" and not (L == "boolean")  # parser's BOOL marker


def test_dimension_is_immutable_and_readable():
    with pytest.raises(AttributeError):
        L._items = ()
    assert str(parse_unit("uA/cm**2")[1]) == "[current] / [length] ** 2"
    assert str(parse_unit("ms**-0.5")[1]) == "1 / [time] ** 0.5"
    assert str(dimensionless()) == "dimensionless"
    assert eval(repr(L / T), {"Dimension": Dimension}) == L / T
    assert pickle.loads(pickle.dumps(L / T)) == L / T


def test_dimension_equals_pint_dimensionality():
    # what pint itself says the dimension of each unit is; ours must compare equal both ways
    for text in ("mV", "uA/cm**2", "nS", "pF", "Mohm", "mM", "fC", "Hz", "kelvin", "second**-0.5"):
        ours, theirs = parse_unit(text)[1], registry().Unit(text).dimensionality
        assert ours == theirs and not ours != theirs and theirs == ours
        assert hash(ours) == hash(theirs)  # one dict key for both


def test_dim_key_round_trip():
    for text in ("uA/cm**2", "1", "ms**-0.5", "mV/ms", "mM"):
        dim = parse_unit(text)[1]
        assert dim_from_key(dim_key(dim)) == dim
    assert dim_key(parse_unit("ms**-0.5")[1]) == "[time]=-0.5"
    with pytest.raises(ValueError):
        dim_from_key("time=1")


# -- the unit cache -------------------------------------------------------------------------

# prints the factor (float.hex) and dimension key of each text, and whether pint was imported
_SCRIPT = r"""
import json, sys
from biosnn import units
texts = json.loads(sys.argv[1])
out = {t: [units.parse_unit(t)[0].hex(), units.dim_key(units.parse_unit(t)[1])] for t in texts}
q = units.parse_quantity("1.62 mV")
out["quantity"] = [q[0].hex(), units.dim_key(q[1]), q[2]]
out["time"] = units.parse_quantity("0.1 ms")[1] == units.TIME()
out["words"] = units.format_dimension(units.parse_unit("uA/cm**2")[1])
out["pint"] = "pint" in sys.modules
print(json.dumps(out))
"""
#: Brian2-style names only: answered from the shipped table, no pint, nothing stored
_TEXTS = ["ms", "mV", "Hz", "uA/cm**2", "1/ms", "ms**-0.5", "nS*mV", "1", "kg", "mmolar"]
#: units only pint knows: the unit cache
_PINT_TEXTS = ["inch", "hour/mV", "angstrom**2"]


def _run(cache: Path, texts=_TEXTS) -> dict:
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(cache))
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(texts)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cache_file(cache: Path) -> Path:
    (path,) = cache.glob("units-*.json")
    return path


def test_brian2_names_need_neither_pint_nor_the_cache(tmp_path):
    cold = _run(tmp_path)
    assert cold.pop("pint") is False  # an empty cache: the shipped table answers
    assert not list(tmp_path.glob("units-*.json"))  # and nothing is written
    assert cold["uA/cm**2"] == [(0.01).hex(), "[current]=1;[length]=-2"]  # 1e-6/1e-8/1e-12
    assert cold["quantity"] == [(1.62).hex(), "[current]=-1;[length]=2;[mass]=1;[time]=-3", "mV"]
    assert cold["time"] is True and cold["words"] == "current/area (amp/meter**2)"
    # the same bits as pint computes them (the cache path, the table set aside)
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(tmp_path))
    script = "from biosnn import units; units._shipped_table = lambda: {}\n" + _SCRIPT
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(_TEXTS)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    by_pint = json.loads(proc.stdout.strip().splitlines()[-1])
    assert by_pint.pop("pint") is True and by_pint == cold


def test_warm_process_does_not_import_pint(tmp_path):
    cold = _run(tmp_path, _TEXTS + _PINT_TEXTS)
    assert cold.pop("pint") is True  # the first process asks pint
    warm = _run(tmp_path, _TEXTS + _PINT_TEXTS)
    assert warm.pop("pint") is False  # the second one only reads the file
    assert warm == cold  # same bits, same dimensions
    assert cold["inch"] == [(25400.0).hex(), "[length]=1"]  # 0.0254 m / 1e-6 m (exact)
    assert cold["hour/mV"][0] == (3.6e6).hex()  # 3600 s / 1e-3 s, per mV
    assert cold["angstrom**2"] == [(1e-8).hex(), "[length]=2"]  # (1e-10 m / 1e-6 m)**2
    stored = cache.read_record(_cache_file(tmp_path))
    assert set(stored["texts"]) == set(_PINT_TEXTS)  # only what pint was asked for


def test_corrupt_cache_is_ignored_and_rebuilt(tmp_path):
    cold = _run(tmp_path, _TEXTS + _PINT_TEXTS)
    path = _cache_file(tmp_path)
    for junk in (
        "{not json",
        '{"format": "1", "texts": {"inch": [0, "[time]=1"]}}',
        '{"format": "1", "texts": {"inch": "x"}}',
        "[1, 2]",
        "",
    ):
        path.write_text(junk)
        again = _run(tmp_path, _TEXTS + _PINT_TEXTS)
        assert again["pint"] is True  # nothing usable: pint is asked again
        assert again == cold  # and gives the same bits
        assert cache.read_record(path)["texts"]["inch"] == [25400.0, "[length]=1"]
    assert _run(tmp_path, _TEXTS + _PINT_TEXTS)["pint"] is False  # rebuilt: warm again


def test_new_unit_on_a_warm_cache_asks_pint(tmp_path):
    _run(tmp_path, _TEXTS + _PINT_TEXTS)
    assert _run(tmp_path, _TEXTS + _PINT_TEXTS)["pint"] is False
    new = _run(tmp_path, _TEXTS + ["lb/um**3"])  # a name not seen before: pint is asked
    assert new["pint"] is True
    # 0.45359237 kg (the international pound, exact) = 4.5359237e11 * 1e-12 kg
    assert new["lb/um**3"] == [(4.5359237e11).hex(), "[length]=-3;[mass]=1"]
    assert _run(tmp_path, _TEXTS + ["lb/um**3"])["pint"] is False  # and it was stored


# -- the shipped table ----------------------------------------------------------------------


def test_shipped_table_is_what_pint_computes():
    # every entry of biosnn/units_table.json against the installed pint, bit for bit; a
    # failure here means the table is stale: regenerate it (units._write_shipped_table)
    table = units._shipped_table()
    assert sorted(table) == units._shipped_names()  # no accepted name missing, none extra
    for name, (factor, key) in table.items():
        by_pint = units._from_pint(units._pint_name(name), name)
        assert (factor, key) == (by_pint[0], dim_key(by_pint[1])), name
        assert units._shipped(name) == by_pint


_NAME_PARTS = sorted({*units.PREFIXES, *units._LONG, *units._SHORT, "2", "3", "s", "m", "x"})


@given(st.lists(st.sampled_from(_NAME_PARTS), min_size=1, max_size=3).map("".join))
@settings(max_examples=400, deadline=None)
def test_every_name_allowed_in_equations_is_shipped(text):
    # any string made of prefixes, bases and powers that is a unit name is in the table
    assert (units._pint_name(text) is not None) == (text in units._shipped_table())


def test_a_bad_shipped_entry_is_not_used(monkeypatch):
    # an entry of the wrong shape is skipped: pint answers instead (the same value)
    monkeypatch.setattr(units, "_shipped_table", lambda: {"mV": ("1.0", "[time]=1")})
    units._shipped.cache_clear()
    try:
        assert units._shipped("mV") is None and units._shipped("ms") is None
        assert units._from_pint("millivolt", "mV")[0] == 1.0
    finally:
        units._shipped.cache_clear()


_NO_PINT = r"""
import json, sys
sys.modules["pint"] = None  # importing pint fails: nothing may need it
from biosnn import units
if sys.argv[1] == "control":
    units._shipped_table = lambda: {}
from biosnn.equations.files import list_models, load_model
from biosnn.network.files import list_networks, read_network
from biosnn.network.synapse_models import list_synapses, load_synapse
seen = []
for name, _ in list_models():
    model = load_model(name)
    model.jacobian  # the symbolic build: every unit checked
    for preset in model.presets:
        load_model(name, preset=preset)
    seen.append(name)
for name, *_ in list_synapses():
    load_synapse(name)
    seen.append(name)
for name, *_ in list_networks():
    read_network(name, backend="numpy")[0].snippets()
    seen.append(name)
print(json.dumps(seen))
"""


@pytest.mark.slow
def test_the_library_never_imports_pint(tmp_path):
    # every model, synapse and network of the library, built and lowered in an empty
    # cache, in a process where importing pint fails
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(tmp_path / "cache"))
    run = [sys.executable, "-c", _NO_PINT]
    proc = subprocess.run(
        [*run, "library"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"hodgkin_huxley", "gaba_a", "wang_buzsaki_gamma", "cuba"} <= set(seen)
    assert not list((tmp_path / "cache").glob("units-*.json"))
    # the control: without the table the same script needs pint, and fails
    env["BIOSNN_CACHE_DIR"] = str(tmp_path / "control")
    proc = subprocess.run(
        [*run, "control"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode != 0 and "pint" in proc.stderr


def test_cache_entries_of_this_process(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path))
    factor, dim = unit_name("mV")  # lru-cached: may not touch the file
    units._store("text", False, "mV", factor, dim)
    data = cache.read_record(_cache_file(tmp_path))
    assert data["format"] == units.CACHE_FORMAT and data["texts"]["mV"] == [1.0, dim_key(dim)]
    assert units._cached("text", False, "mV") == (1.0, dim)
    assert units.cache_path() == str(_cache_file(tmp_path))
