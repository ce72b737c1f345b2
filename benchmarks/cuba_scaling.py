"""CUBA at N = 4000, 16000, 64000, 256000 with p = 80/N (80 inputs per neuron): one JSON
line per N.

    BIOSNN_CACHE_DIR=... .venv/bin/python benchmarks/cuba_scaling.py [N ...]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    if "--inner" in sys.argv:
        from _networks import cuba

        n = int(sys.argv[-1])
        net, mon, _ = cuba(n=n, p=80.0 / n, backend="c")
        net.run("1 s")
        sys.exit(0)
    from _netbench import measure, report

    sizes = [int(a) for a in sys.argv[1:]] or [4000, 16000, 64000, 256000]
    for n in sizes:
        report(measure("cuba", n), __file__, [str(n)])
