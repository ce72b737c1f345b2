"""Ctrl-C stops a compiled run at once and leaves the cache intact (issue 9, section 5).

A ctypes call used to hold off Python's SIGINT handler until the C run ended (minutes);
now the drivers poll a stop flag once per step (biosnn/_interrupt.py).  Each test starts a
process that compiles (or loads) its kernel, prints a marker, then starts a run far
longer than the test; SIGINT is sent one second after the marker.  The process must end
with KeyboardInterrupt handled (exit 130; the CLI prints one line) within 2 s - a generous
bound for a loaded machine: measured 0.10-0.12 s from SIGINT to exit for the fixed-step
driver, the KeyboardInterrupt itself arrives < 1 ms after the signal.  Then a second
process runs the same model and must load the cached library without compiling (no file
of the cache directory is added or rewritten).

Reference: the runs take minutes (64 HH instances x 10**7 rk4 steps; 300 HH instances x
100 s with dop853; 20000 LIF neurons x 10**8 steps), so an exit within 2 s can only be the
interrupt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

BOUND_S = 2.0

FIXED = textwrap.dedent("""
    import sys, biosnn
    m = biosnn.load_model("hodgkin_huxley").with_params(I_ext=10)
    r = biosnn.simulate(m, 1, n=64, record=[], backend="c")   # compile or load
    print("ready", r.stats["backend"], flush=True)
    if sys.argv[1] == "long":
        try:
            biosnn.simulate(m, 100000, n=64, record=[], backend="c")
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """)

CLI_FI = textwrap.dedent("""
    import sys, biosnn
    from biosnn.cli import main
    m = biosnn.load_model("hodgkin_huxley")
    r = biosnn.simulate(m, 1, n=2, method="dop853", rtol=1e-6, atol=1e-8, record=[],
                        backend="c")                           # compile or load
    print("ready", r.stats["backend"], flush=True)
    if sys.argv[1] == "long":
        sys.exit(main(["fi", "hodgkin_huxley", "--param", "I_ext", "--from", "0", "--to",
                       "20", "--points", "300", "--duration", "100000"]))
    """)

NETWORK = textwrap.dedent("""
    import sys, biosnn
    from biosnn.network import Network, Population
    # no spike monitor: the engine never returns to Python to grow a spike buffer
    lif = biosnn.load_model("lif").with_params(I_ext="0.3 nA")
    net = Network(Population(lif, 20000, method="exact"), seed=1, backend="c")
    net.run(1.0)                                               # compile or load
    print("ready", net.stats["backend"], flush=True)
    if sys.argv[1] == "long":
        try:
            net.run("10000 s")
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            try:                # a partial state is never silently continued
                net.run(1.0)
            except biosnn.SimulationError as exc:
                print("refused:", exc, flush=True)
            sys.exit(130)
    """)


def _snapshot(cache):
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in cache.rglob("*") if p.is_file()}


def _interrupt(code, cache):
    """Run ``code long``, SIGINT one second after its marker; (status, seconds, out, err)."""
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(cache))
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "long"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        marker = proc.stdout.readline()
        assert marker.startswith("ready c"), (marker, proc.stderr.read() if not marker else "")
        time.sleep(1.0)  # well inside the long C run
        assert proc.poll() is None
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=BOUND_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the C run ignored SIGINT for more than {BOUND_S} s")
        return proc.returncode, time.perf_counter() - sent, out, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _check_cache_intact(code, cache):
    before = _snapshot(cache)
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(cache))
    proc = subprocess.run(
        [sys.executable, "-c", code, "short"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ready c")
    after = _snapshot(cache)
    changed = sorted(str(p.relative_to(cache)) for p in after if before.get(p) != after[p])
    assert not changed, changed  # loaded from the cache: nothing compiled, written


def test_ctrl_c_stops_the_fixed_step_c_driver(tmp_path):
    status, seconds, out, err = _interrupt(FIXED, tmp_path)
    assert status == 130 and "interrupted" in out, (status, out, err)
    assert "Traceback" not in err, err
    _check_cache_intact(FIXED, tmp_path)


def test_ctrl_c_stops_the_cli_in_an_adaptive_c_run(tmp_path):
    status, seconds, out, err = _interrupt(CLI_FI, tmp_path)
    assert status == 130, (status, out, err)
    assert err.strip().splitlines() == ["biosnn: interrupted"], err
    _check_cache_intact(CLI_FI, tmp_path)


def test_ctrl_c_stops_the_network_c_engine(tmp_path):
    status, seconds, out, err = _interrupt(NETWORK, tmp_path)
    assert status == 130 and "interrupted" in out, (status, out, err)
    assert "refused: the network was interrupted" in out, out
    assert "Traceback" not in err, err
    _check_cache_intact(NETWORK, tmp_path)
