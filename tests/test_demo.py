"""The demo runs into a temporary directory and writes a PNG and a JSON with sane numbers."""

import io
import json

import pytest

from biosnn.cli import main


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("demo")
    out = io.StringIO()
    err = io.StringIO()
    status = main(["demo", "--out", str(out_dir)], out=out, err=err)
    assert status == 0, err.getvalue()
    assert "demo.png" in out.getvalue() and "demo.json" in out.getvalue()
    return out_dir


def test_writes_a_png(demo_dir):
    data = (demo_dir / "demo.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000


@pytest.fixture(scope="module")
def summary(demo_dir):
    return json.loads((demo_dir / "demo.json").read_text())


def test_hh_tonic_firing(summary):
    hh = summary["hh"]
    # HH at 10 uA/cm**2 fires at ~68 Hz: 6-7 spikes in 100 ms (reference data: 69 in 1 s)
    assert 6 <= hh["n_spikes"] <= 8
    assert 13.0 < hh["mean_isi_ms"] < 16.0


def test_hh_fi_curve_and_rheobase(summary):
    fi = summary["hh_fi"]
    rates = fi["rates_hz"]
    assert 20 <= len(fi["currents_uA_cm2"]) == len(rates) <= 41
    assert rates[0] == 0  # silent at rest
    assert 50 < rates[-1] < 150  # HH at 20 uA/cm**2: ~90 Hz
    # classic HH: repetitive firing from rest starts between 6 and 7 uA/cm**2
    assert 5.5 < fi["rheobase_uA_cm2"] < 7.5


def test_izhikevich_presets_fire(summary):
    izh = summary["izhikevich"]
    assert len(izh) >= 2
    assert all(p["n_spikes"] > 0 for p in izh.values())


def test_lif_matches_the_analytic_rate(summary):
    lif = summary["lif_fi"]
    assert max(lif["analytic_hz"]) > 20
    assert lif["max_isi_error_ms"] < 1e-6  # dop853 at rtol 1e-10
    assert lif["max_rate_error_hz"] < 1e-3


def test_fhn_oscillates(summary):
    fhn = summary["fhn"]
    assert fhn["period"] == pytest.approx(39.47, abs=0.2)  # model file: 39.47 at I = 0.5
    assert fhn["amplitude"] > 2


def test_fast_enough(summary):
    assert summary["total_s"] < 60
