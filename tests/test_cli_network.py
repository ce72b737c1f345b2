"""``biosnn network``: JSON summary schema, plot, errors with exit status 2."""

from __future__ import annotations

import io
import json

import pytest

from biosnn.cli import main

SMALL = ["--set", "populations.exc.n=160", "--set", "populations.inh.n=40"]


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_network_json_schema_and_plot(tmp_path):
    js, png = tmp_path / "cuba.json", tmp_path / "cuba.png"
    code, out, err = run(
        [
            "network",
            "cuba",
            "--duration",
            "100 ms",
            "--backend",
            "numpy",
            "--seed",
            "5",
            *SMALL,
            "--out",
            str(js),
            "--plot",
            str(png),
        ]
    )
    assert code == 0, err
    doc = json.loads(js.read_text())
    assert set(doc) == {
        "network",
        "duration_ms",
        "dt_ms",
        "seed",
        "backend",
        "populations",
        "timings",
        "synapses",
    }
    assert doc["network"] == "cuba" and doc["duration_ms"] == 100.0 and doc["dt_ms"] == 0.1
    assert doc["seed"] == 5 and doc["backend"] == "numpy"
    assert set(doc["populations"]) == {"exc", "inh"}
    for name, n in (("exc", 160), ("inh", 40)):
        pop = doc["populations"][name]
        assert set(pop) == {"n", "spikes", "rate_hz"} and pop["n"] == n
        assert pop["rate_hz"] == pytest.approx(pop["spikes"] / (n * 0.1))
    assert set(doc["timings"]) == {"build_s", "compile_s", "run_s", "total_s"}
    assert all(v >= 0 for v in doc["timings"].values())
    assert set(doc["synapses"]) == {"ee", "ei", "ie", "ii"}
    # p = 0.02: 160*160*0.02 = 512 expected exc->exc synapses, sd sqrt(512*0.98) = 22.4
    assert abs(doc["synapses"]["ee"]["n"] - 512) < 5 * 22.4
    assert all(s["bytes_per_synapse"] > 0 for s in doc["synapses"].values())
    assert png.stat().st_size > 1000
    assert "exc" in out and "rate" in out


def test_seed_makes_runs_repeatable(tmp_path):
    docs = []
    for k in range(2):
        path = tmp_path / f"{k}.json"
        assert (
            run(
                [
                    "network",
                    "cuba",
                    "-T",
                    "50",
                    "--backend",
                    "numpy",
                    "--seed",
                    "2",
                    *SMALL,
                    "--out",
                    str(path),
                ]
            )[0]
            == 0
        )
        docs.append(json.loads(path.read_text())["populations"])
    assert docs[0] == docs[1]


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["network", "nosuchnet"], "no network named 'nosuchnet'"),
        (
            ["network", "cuba", "--set", "populations.exc.n=0"],
            r"cuba.toml, line \d+: \[populations.exc\] n: must be a whole number >= 1",
        ),
        (
            ["network", "cuba", "--set", "populations.exc.size=10"],
            r"\[populations.exc\] size: unknown key",
        ),
        (["network", "cuba", "--duration", "10 mV"], "--duration must be a time"),
        (["network", "cuba", "--backend", "gpu"], "invalid choice"),
    ],
)
def test_errors_exit_2_with_one_line(argv, pattern):
    code, out, err = run(argv)
    assert code == 2
    assert err.startswith("biosnn: error: ") and err.count("\n") == 1
    import re

    assert re.search(pattern, err), err


def test_bad_file_key_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[populations.p]\nmodel = "lif"\nn = 3\nmethod = "exact"\ncolour = 1\n')
    code, _, err = run(["network", str(bad), "-T", "10"])
    assert code == 2 and f"{bad}, line 5: [populations.p] colour: unknown key" in err
