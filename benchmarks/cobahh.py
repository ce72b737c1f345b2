"""COBAHH-4000 (Brette et al. 2007, as Brian2's examples/COBAHH.py): one JSON line.

BIOSNN_CACHE_DIR=... .venv/bin/python benchmarks/cobahh.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    if "--inner" in sys.argv:
        from _networks import cobahh

        net, mon, _ = cobahh(n=int(sys.argv[-1]), backend="c")
        net.run("1 s")
        sys.exit(0)
    from _anchors import measured_anchors
    from _netbench import ANCHORS, measure, report

    # Brian2 and NEST run side by side when `make bench-env` has made .venv-bench;
    # otherwise (or with --quoted-anchors) the ratios use the figures the issue quotes.
    if "--quoted-anchors" not in sys.argv:
        measured = measured_anchors("cobahh", 4000, nest="--with-nest" in sys.argv)
        if measured:
            ANCHORS[("cobahh", 4000)] = measured
    report(measure("cobahh", 4000), __file__, ["4000"])
