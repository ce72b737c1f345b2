"""Fast-slow analysis of Hindmarsh-Rose bursting (biosnn.analysis.fastslow).

Numbers derived here from the equations (a = 1, b = 3, c = 1, d = 5, I = 2): with z frozen,
the fast subsystem's equilibria satisfy y = c - d x**2 and
z = I + c - a x**3 + (b - d) x**2 = 3 - x**3 - 2 x**2, whose folds are at dz/dx = 0:
x = 0 (z = 3, upper knee) and x = -4/3 (z = 3 + 64/27 - 32/9 = 49/27 = 1.8148148, lower
knee, where the rest disappears).  The Jacobian [[-3x**2 + 6x, 1], [-10x, -1]] has trace
zero at x = 1 - sqrt(2/3) (determinant 3x**2 + 4x > 0): a Hopf point at
z = 3 - x**3 - 2x**2.  Rinzel's picture of a (fold/homoclinic) burst: the burst starts
when z has slowly drifted below the lower knee and the rest has vanished, and spiking
stops (at the homoclinic orbit) well before the upper knee.
"""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest

import biosnn
from biosnn.analysis import FastSlow, fast_slow, fast_subsystem
from biosnn.errors import BiosnnError

matplotlib.use("Agg")

Z_UPPER = 3.0
Z_LOWER = 49.0 / 27.0
X_HOPF = 1 - math.sqrt(2.0 / 3.0)
Z_HOPF = 3 - X_HOPF**3 - 2 * X_HOPF**2


@pytest.fixture(scope="module")
def hr():
    return fast_slow(
        biosnn.load_model("hindmarsh_rose"), "z", duration=2500, transient=1000, cycles=12
    )


def test_fast_subsystem_folds_and_hopf_are_the_closed_form_values(hr):
    folds = sorted(hr.folds)
    assert folds == [pytest.approx(Z_LOWER, abs=1e-7), pytest.approx(Z_UPPER, abs=1e-7)]
    hopf = hr.diagram.special("hopf")
    assert len(hopf) == 1 and hopf[0].param == pytest.approx(Z_HOPF, abs=1e-7)
    lower = [sp for sp in hr.diagram.special("fold") if sp.param < 2][0]
    assert lower.state["x"] == pytest.approx(-4 / 3, abs=1e-6)


def test_the_folds_bracket_the_bursting_trajectory(hr):
    z, spikes = hr.trajectory["z"], hr.spikes
    assert len(spikes) > 10
    # bursts: spikes separated by more than 100 time units start a new burst
    starts = spikes[np.r_[0, np.flatnonzero(np.diff(spikes) > 100) + 1]]
    starts = starts[starts > hr.t[0] + 50]
    assert starts.size >= 2
    z_at = np.interp(starts, hr.t, z)
    assert np.all(z_at < Z_LOWER)  # the rest had vanished at the lower knee
    assert np.all(z_at > Z_LOWER - 0.1)  # ... and z only just passed it
    assert z.max() < Z_HOPF < Z_UPPER  # spiking stops before the upper knee
    assert Z_LOWER - 0.1 < z.min() < Z_LOWER
    # the brute-force fast cycles exist where the trajectory spikes
    c = hr.cycles
    assert np.any(c["oscillating"] & (c["slow"] > z.min()) & (c["slow"] < z.max()))
    assert not np.any(c["oscillating"] & (c["slow"] > Z_UPPER))


def test_object_json_plot_and_fast_model(hr):
    assert isinstance(hr, FastSlow) and hr.fast_model.states == ("x", "y")
    assert "z" in hr.fast_model.params
    doc = json.loads(json.dumps(hr.to_dict()))
    assert doc["slow"] == "z" and len(doc["diagram"]["special_points"]) == 3
    ax = hr.plot("x")
    assert ax.get_xlabel() == "z"
    fast = fast_subsystem("hindmarsh_rose", "z", value=2.5)
    assert fast.params["z"] == 2.5 and fast.name == "hindmarsh_rose_fast"
    with pytest.raises(BiosnnError, match="not a state"):
        fast_subsystem("hindmarsh_rose", "q")
