"""COBA-4000 (Brette et al. 2007, benchmark 1; models/networks/coba.toml): one JSON line.

    BIOSNN_CACHE_DIR=... .venv/bin/python benchmarks/coba.py

No anchor figures are quoted for COBA; the row reports biosnn's own figures.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    if "--inner" in sys.argv:  # the whole-process measurement: build + run only
        from _networks import coba

        net, mon, _ = coba(n=int(sys.argv[-1]), backend="c")
        net.run("1 s")
        sys.exit(0)
    from _netbench import measure, report

    report(measure("coba", 4000), __file__, ["4000"])
