"""Brette et al. (2007) benchmarks as Brian2's examples define them: mean rates within
10 % of Brian2's on this class of machine.

References: CUBA 5.69 Hz exc / 5.66 Hz inh (figures quoted in the network issue).
COBAHH: Brian2 2.9.0 (numpy target) running its examples/COBAHH.py with seed(s) and a
SpikeMonitor, mean over seeds 1-12: 34.5 Hz exc / 35.2 Hz inh (single seeds 30.6-38.2 Hz
exc; docs/benchmarks.md, "Networks", has the command and the table).  The 37.1-37.5 Hz
quoted in the issue is the upper end of that spread, not its mean.  Our seed-1 network
gives 34.2 / 35.5 Hz (our seeds 1-12: mean 34.9 Hz over all neurons, Brian2's 34.7 Hz).
"""

import pytest

from biosnn.codegen import c_build

needs_c = pytest.mark.skipif(not c_build.compiler_available(), reason="needs a C compiler")


@needs_c
def test_cuba_rates_match_brian2():
    from _networks import cuba

    net, mon, ne = cuba(backend="c")
    net.run("1 s")
    c = mon.count
    exc, inh = c[:ne].mean(), c[ne:].mean()
    assert exc == pytest.approx(5.69, rel=0.10)
    assert inh == pytest.approx(5.66, rel=0.10)
    assert net.stats["bytes_per_synapse"] <= 12


@needs_c
def test_cobahh_rates_match_brian2():
    from _networks import cobahh

    net, mon, ne = cobahh(backend="c")
    net.run("1 s")
    c = mon.count
    exc, inh = c[:ne].mean(), c[ne:].mean()
    assert exc == pytest.approx(34.5, rel=0.10)
    assert inh == pytest.approx(35.2, rel=0.10)
