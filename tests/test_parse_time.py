"""``biosnn.units.parse_time``: the one reader of times given by a user (issue 10, review:
five time-string parsers made one).

Expected values: the internal time unit is the ms (docs/architecture.md, "Units"), so
"1 s" is 1000, "250 us" is 0.25 and a number is taken as it is.  Every refusal is one line
that names what the value is for and the value itself.
"""

from __future__ import annotations

import numpy as np
import pytest

import biosnn
from biosnn.errors import ModelError, SimulationError, UnitError
from biosnn.units import parse_time


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("1 s", 1000.0),
        ("250 us", 0.25),
        ("10 ms", 10.0),
        (" 2.5 ms ", 2.5),
        (7, 7.0),
        (0.1, 0.1),
        (np.float64(3.5), 3.5),
        (np.int32(4), 4.0),
        (np.array(5.5), 5.5),
        (-2.0, -2.0),  # negative times are allowed unless positive=True
    ],
)
def test_times_in_ms(value, ms):
    got = parse_time(value, "duration")
    assert type(got) is float and got == ms


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("5 mV", ["duration must be a time such as '10 ms'", "'5 mV'"]),
        ("abc", ["duration:", "'abc'"]),
        ("10 furlongs", ["duration must be a time", "furlongs"]),  # a length
        ("10 flurbs", ["duration '10 flurbs': ", "unknown unit 'flurbs'"]),
        ("1,5", ["duration '1,5': "]),  # the message of the unit names only ',5'
        ("1e400 ms", ["duration:", "'1e400 ms'", "finite"]),
        (True, ["duration must be a number (ms)", "True"]),
        (None, ["duration must be a number (ms)", "None"]),
        ([1, 2], ["duration must be a number (ms)", "[1, 2]"]),
        (np.array([1.0, 2.0]), ["duration must be a number (ms)", "array([1., 2.])"]),
        (float("inf"), ["duration must be finite", "inf"]),
        (float("nan"), ["duration must be finite", "nan"]),
    ],
)
def test_bad_times_one_line_naming_the_value(value, words):
    with pytest.raises(UnitError) as info:
        parse_time(value, "duration")
    text = str(info.value)
    assert "\n" not in text
    for word in words:
        assert word in text


@pytest.mark.parametrize("value", [0, -1.0, "0 ms", "-5 ms"])
def test_positive(value):
    assert parse_time(value) == float(str(value).split()[0])  # allowed by default
    with pytest.raises(UnitError, match=r"^dt must be positive, got "):
        parse_time(value, "dt", positive=True)


def test_error_class_for_values_and_unit_error_for_units():
    # error= is raised for a bad type, a value that is not finite or not positive ...
    for bad in (True, float("nan"), 0.0):
        with pytest.raises(SimulationError):
            parse_time(bad, "dt", positive=True, error=SimulationError)
    # ... a string that is not a time is always a UnitError (a ModelError)
    with pytest.raises(UnitError):
        parse_time("1 mV", "dt", error=SimulationError)


def test_without_what_the_message_starts_with_the_rule():
    # network files put the file, line and key in front (biosnn.network.files)
    with pytest.raises(UnitError, match=r"^must be a time such as '10 ms', not '1 mV'$"):
        parse_time("1 mV")
    with pytest.raises(UnitError, match=r"^must be finite, not inf$"):
        parse_time(float("inf"))


def test_a_long_value_is_cut_in_the_message():
    with pytest.raises(UnitError) as info:
        parse_time(list(range(1000)), "duration")
    assert len(str(info.value)) < 200 and str(info.value).endswith("...")


def test_model_reads_strings_in_its_units():
    hh = biosnn.load_model("hodgkin_huxley")
    assert parse_time("1 s", "duration", model=hh) == 1000.0
    assert parse_time(20, "duration", model=hh) == 20.0
    with pytest.raises(UnitError, match=r"^duration: .*'1 mV'.*voltage"):
        parse_time("1 mV", "duration", model=hh)


def test_dimensionless_model_takes_plain_numbers():
    fhn = biosnn.load_model("fitzhugh_nagumo")
    assert fhn.time_unit == "1"  # the library's FitzHugh-Nagumo has dimensionless time
    assert parse_time(200, "duration", model=fhn) == 200.0
    with pytest.raises(UnitError, match=r"^duration: .*'5 ms'"):
        parse_time("5 ms", "duration", model=fhn)
    with pytest.raises(UnitError, match=r"^duration must be a number \(time units\), not True"):
        parse_time(True, "duration", model=fhn)


# -- the call sites: each reads its times through parse_time ---------------------------------


def test_simulate_reads_durations_through_parse_time():
    lif = biosnn.load_model("lif")
    a = biosnn.simulate(lif, "0.05 s", method="exact", dt=0.1, backend="numpy")
    b = biosnn.simulate(lif, 50, method="exact", dt="100 us", backend="numpy")
    assert np.array_equal(a.t, b.t) and np.array_equal(a["v"], b["v"])
    # a boolean was taken as 1 ms before parse_time; now it is refused
    with pytest.raises(SimulationError, match="duration must be a number"):
        biosnn.simulate(lif, True, method="exact", dt=0.1, backend="numpy")
    with pytest.raises(SimulationError, match="record_dt must be positive"):
        biosnn.simulate(lif, 10, method="exact", dt=0.1, record_dt=0, backend="numpy")
    with pytest.raises(UnitError, match="dt: .*'0.1 mV'"):
        biosnn.simulate(lif, 10, method="exact", dt="0.1 mV", backend="numpy")


def test_network_objects_check_that_times_are_times():
    from biosnn.network import Network, Population, RateMonitor, SpikeGenerator

    # SpikeGenerator and RateMonitor read strings without a dimension check before
    with pytest.raises(ModelError, match="SpikeGenerator times must be a time.*'1 mV'"):
        SpikeGenerator(1, [0], ["1 mV"])
    assert SpikeGenerator(1, [0, 0], ["1 ms", "2 ms"]).times.tolist() == [1.0, 2.0]
    P = Population(biosnn.load_model("lif"), 2)
    rate = RateMonitor(P, bin="5 mV")
    net = Network(P, rate, dt=0.1, seed=1, backend="numpy")
    net.run(1.0)
    with pytest.raises(ModelError, match="bin of a RateMonitor must be a time.*'5 mV'"):
        rate.rate  # noqa: B018
    with pytest.raises(ModelError, match="dt must be finite"):
        Network(P, dt=float("inf"), backend="numpy")
    with pytest.raises(SimulationError, match="duration must be a number"):
        net.run(True)
