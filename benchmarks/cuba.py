"""CUBA-4000 (Brette et al. 2007, as Brian2's examples/CUBA.py): one JSON line.

BIOSNN_CACHE_DIR=... .venv/bin/python benchmarks/cuba.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    if "--inner" in sys.argv:  # the whole-process measurement: build + run only
        from _networks import cuba

        net, mon, _ = cuba(n=int(sys.argv[-1]), backend="c")
        net.run("1 s")
        sys.exit(0)
    from _anchors import measured_anchors
    from _netbench import ANCHORS, measure, report

    # Brian2 and NEST run side by side when `make bench-env` has made .venv-bench;
    # otherwise (or with --quoted-anchors) the ratios use the figures the issue quotes.
    if "--quoted-anchors" not in sys.argv:
        measured = measured_anchors("cuba", 4000)
        if measured:
            ANCHORS[("cuba", 4000)] = measured
    report(measure("cuba", 4000), __file__, ["4000"])
