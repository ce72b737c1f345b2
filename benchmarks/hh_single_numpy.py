"""Single Hodgkin-Huxley neuron on the NumPy backend: adaptive runs, CPU time.

``simulate(hodgkin_huxley, 200 ms, I_ext = 10 uA/cm**2, backend="numpy")`` with rk45 at
rtol = atol = 3e-6 and dop853 at 1e-6 (default recording), best of ``--repeat`` runs of
process CPU time after one warm-up run (kernel built and cached).  Measures the
per-step cost of the Python driver, including the search for crossings inside each step
(docs/benchmarks.md, "HH single neuron").

    .venv/bin/python benchmarks/hh_single_numpy.py --repeat 5
"""

from __future__ import annotations

import argparse
import json
import time

import biosnn

CASES = [("rk45", 3e-6), ("dop853", 1e-6)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    model = biosnn.load_model("hodgkin_huxley")
    result = {}
    for method, tol in CASES:
        kw = dict(method=method, rtol=tol, atol=tol, backend="numpy", params={"I_ext": 10.0})
        res = biosnn.simulate(model, 200.0, **kw)  # warm-up: kernel built and cached
        best = float("inf")
        for _ in range(args.repeat):
            c0 = time.process_time()
            res = biosnn.simulate(model, 200.0, **kw)
            best = min(best, time.process_time() - c0)
        n_spikes = len(res.spikes[0])
        print(
            f"{method} tol={tol:g}: {best * 1e3:.1f} ms CPU (best of {args.repeat}), "
            f"{n_spikes} spikes"
        )
        result[method] = {"tol": tol, "cpu_s": best, "spikes": n_spikes}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
