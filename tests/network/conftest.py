import sys
from pathlib import Path

# the benchmark networks (Brette et al. 2007 as Brian2's examples define them) live in
# benchmarks/_networks.py and are shared by the benchmarks and these tests
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
