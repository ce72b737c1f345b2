"""Brute-force orbit diagrams by simulation (biosnn.analysis.orbit_diagram).

Expected behaviour of Hindmarsh-Rose (r = 0.001) from the description in
models/hindmarsh_rose.toml (checked there with scipy DOP853): rest at I_ext = 1; regular
bursts of 9 spikes, silent interval 300.6, at I_ext = 2; tonic spiking with period 20.73
at I_ext = 4.  FitzHugh-Nagumo periods (39.47 at I_ext = 0.5, 36.70 at 1.0) and its
oscillatory range (0.3313, 1.4187) are from models/fitzhugh_nagumo.toml.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from biosnn.analysis import OrbitDiagram, orbit_diagram
from biosnn.errors import BiosnnError


def _spikes_per_burst(isis, gap=100.0):
    """Spikes per burst: the count of intervals between long (inter-burst) ISIs."""
    long = np.flatnonzero(isis > gap)
    return np.diff(long)


@pytest.fixture(scope="module")
def hr():
    values = np.array([1.0, 1.5, 2.0, 2.5, 4.0])
    return orbit_diagram("hindmarsh_rose", "I_ext", values, 8000, transient=4000, dt=0.05)


def test_hindmarsh_rose_isi_diagram(hr):
    assert isinstance(hr, OrbitDiagram) and hr.quantity == "isi"
    assert hr.counts[0] == 0  # I = 1: quiescent
    per_burst = [_spikes_per_burst(hr.values_at(k)) for k in (1, 2, 3)]
    for counts in per_burst:
        assert counts.size >= 3 and np.all(counts == counts[0])  # regular bursting
    n_spikes = [int(c[0]) for c in per_burst]
    assert n_spikes[0] < n_spikes[1] < n_spikes[2]  # spikes per burst grow with I
    assert n_spikes[1] == 9  # model file: 9 at I = 2
    assert hr.values_at(2).max() == pytest.approx(300.6, rel=1e-3)
    tonic = hr.values_at(4)  # I = 4: tonic
    assert tonic.size > 100 and np.ptp(tonic) < 0.05
    assert np.median(tonic) == pytest.approx(20.73, rel=1e-3)
    # the point cloud
    assert hr.params.size == hr.values.size == hr.counts.sum()
    assert set(np.unique(hr.params)) == {1.5, 2.0, 2.5, 4.0}


def test_to_dict_and_plot(hr, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    data = json.loads(json.dumps(hr.to_dict()))
    assert data["param"] == "I_ext" and data["quantity"] == "isi"
    assert len(data["points"]["param"]) == len(data["points"]["value"]) == hr.values.size
    assert data["counts"][0] == 0
    ax = hr.plot()
    ax.figure.savefig(tmp_path / "isi.png")
    assert (tmp_path / "isi.png").stat().st_size > 1000
    assert "OrbitDiagram('hindmarsh_rose'" in repr(hr)


def test_maxima_and_section_fitzhugh_nagumo():
    values = [0.0, 0.5, 1.0, 2.0]
    d = orbit_diagram(
        "fitzhugh_nagumo",
        "I_ext",
        values,
        400,
        transient=200,
        quantity="max",
        var="v",
        record_dt=0.05,
    )
    assert d.counts[0] == 0 and d.counts[3] == 0  # rest outside (0.33, 1.42)
    for k in (1, 2):  # one maximum per period
        m = d.values_at(k)
        assert m.size >= 4 and np.ptp(m) < 1e-3
    # period from the maxima count agrees with the ISI diagram (model file: 39.47, 36.70)
    isi = orbit_diagram("fitzhugh_nagumo", "I_ext", values, 400, transient=200)
    assert np.median(isi.values_at(1)) == pytest.approx(39.47, rel=1e-3)
    assert np.median(isi.values_at(2)) == pytest.approx(36.70, rel=1e-3)
    # section w where v crosses 0 upwards: one value per period, the same every time
    s = orbit_diagram(
        "fitzhugh_nagumo",
        "I_ext",
        values,
        400,
        transient=200,
        quantity="section",
        var="w",
        section=("v", 0.0),
        record_dt=0.05,
    )
    assert s.counts[1] == isi.counts[1] + 1 or s.counts[1] == isi.counts[1]
    assert np.ptp(s.values_at(1)) < 1e-3


def test_errors():
    with pytest.raises(BiosnnError, match="quantity"):
        orbit_diagram("fitzhugh_nagumo", "I_ext", [0.5], 10, transient=0, quantity="min")
    with pytest.raises(BiosnnError, match="var"):
        orbit_diagram("fitzhugh_nagumo", "I_ext", [0.5], 10, transient=0, quantity="max")
    with pytest.raises(BiosnnError, match="section"):
        orbit_diagram(
            "fitzhugh_nagumo", "I_ext", [0.5], 10, transient=0, quantity="section", var="w"
        )
