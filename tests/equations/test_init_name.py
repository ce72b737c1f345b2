"""One name for initial values: ``init=`` (Model, simulate, analyses, Population, CLI).

``Model(initial=...)``, the old name, still works and warns once with what to write; the
model files' ``[initial]`` table is read as before, without a warning.  Expected values
are the given initial values themselves (display units: -70 mV is -70.0).
"""

from __future__ import annotations

import pickle
import warnings

import pytest

import biosnn
from biosnn.errors import ModelError

LIF = "dv/dt = (El - v)/tau : volt"
PARAMS = {"El": "-65 mV", "tau": "10 ms"}


def test_init_is_the_name_and_the_third_positional_argument():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_name = biosnn.Model(LIF, params=PARAMS, init={"v": "-70 mV"})
        by_position = biosnn.Model(LIF, PARAMS, {"v": "-70 mV"})
    assert dict(by_name.initial) == dict(by_position.initial) == {"v": -70.0}


def test_initial_is_deprecated_with_a_warning_that_says_what_to_write():
    with pytest.warns(DeprecationWarning, match=r"write Model\(init=\.\.\.\)") as record:
        old = biosnn.Model(LIF, params=PARAMS, initial={"v": "-70 mV"})
    assert len(record) == 1 and record[0].filename == __file__  # points at the caller
    new = biosnn.Model(LIF, params=PARAMS, init={"v": "-70 mV"})
    assert dict(old.initial) == dict(new.initial) == {"v": -70.0}
    assert old.key == new.key  # the same model, the same cache entries


def test_init_and_initial_together_are_refused():
    with pytest.raises(ModelError, match=r"give the initial values once, as init="):
        biosnn.Model(LIF, params=PARAMS, init={"v": 0}, initial={"v": 0})


def test_init_must_be_a_dict():
    with pytest.raises(ModelError, match="init must be a dict, not list"):
        biosnn.Model(LIF, params=PARAMS, init=[("v", 0)])


def test_model_files_and_derived_models_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        hh = biosnn.load_model("hodgkin_huxley")  # a model file with an [initial] table
        other = hh.with_params(I_ext=5)
        back = pickle.loads(pickle.dumps(other))
        res = biosnn.simulate(hh, 1, init={"V": -70}, backend="numpy", record=["V"])
    assert back.params["I_ext"] == 5 and dict(back.initial) == dict(hh.initial)
    assert float(res["V"][0, 0]) == -70.0
