"""``biosnn.equations.files.as_model``: the one way entry points take their model argument
(issue 10, review: five ``_as_model`` helpers made one).

Expected: a Model passes through as the same object; a library name or a file path gives
what ``load_model`` gives; anything else is one line naming the caller, the type and the
value.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import biosnn
from biosnn.equations.files import as_model, find_model
from biosnn.errors import ModelError, SimulationError


def test_a_model_passes_through():
    hh = biosnn.load_model("hodgkin_huxley")
    assert as_model(hh) is hh


def test_names_and_paths_load():
    by_name = as_model("hodgkin_huxley")
    path = find_model("hodgkin_huxley")
    assert isinstance(path, Path)
    for other in (as_model(path), as_model(str(path))):
        assert other.key == by_name.key
    assert by_name.key == biosnn.load_model("hodgkin_huxley").key


def test_preset_and_params_as_load_model():
    izh = biosnn.load_model("izhikevich")
    preset = next(iter(izh.presets))
    want = biosnn.load_model("izhikevich", preset=preset, I_ext=5)
    for got in (
        as_model("izhikevich", preset=preset, params={"I_ext": 5}),
        as_model(izh, preset=preset, params={"I_ext": 5}),
    ):
        assert got.params == want.params and got.key == want.key


@pytest.mark.parametrize("bad", [42, None, 1.5, ["hodgkin_huxley"], {"name": "lif"}])
def test_other_types_one_line_naming_caller_type_and_value(bad):
    with pytest.raises(ModelError) as info:
        as_model(bad, what="phase_plane()")
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("phase_plane() needs a Model, a library model name or the path")
    assert f"not {type(bad).__name__} {bad!r}" in text


def test_error_class_and_unknown_names():
    with pytest.raises(SimulationError, match=r"^simulate\(\) needs a Model"):
        as_model(42, what="simulate()", error=SimulationError)
    with pytest.raises(ModelError, match="no model named 'hodgkin_huxly'.*hodgkin_huxley"):
        as_model("hodgkin_huxly", error=SimulationError)  # a bad name is a ModelError


def test_entry_points_refuse_a_non_model_in_one_line():
    from biosnn.analysis.equilibria import find_equilibria
    from biosnn.analysis.excitability import fi_curve
    from biosnn.analysis.phaseplane import phase_plane
    from biosnn.network import Population

    # before as_model, the analyses failed later with an AttributeError traceback
    with pytest.raises(SimulationError, match=r"^simulate\(\) needs a Model.*not int 42"):
        biosnn.simulate(42, 10)
    with pytest.raises(ModelError, match=r"^a Population needs a Model.*not int 42"):
        Population(42, 3)
    with pytest.raises(ModelError, match="needs a Model.*not int 42"):
        find_equilibria(42)
    with pytest.raises(ModelError, match="needs a Model.*not int 42"):
        fi_curve(42, "I", [1.0, 2.0], 100)
    with pytest.raises(ModelError, match="needs a Model.*not int 42"):
        phase_plane(42, "v", "w")
