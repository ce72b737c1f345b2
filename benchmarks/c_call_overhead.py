"""Cost of a compiled run's Ctrl-C machinery (biosnn/_interrupt.py).

A worker thread per C
call.  Prints the best of several CPU times for a long fixed-step run, an adaptive run and
a tiny run (where the per-call cost shows).  Run it with ``PYTHONPATH`` on two checkouts
for a before/after comparison:

    .venv/bin/python benchmarks/c_call_overhead.py
"""

from __future__ import annotations

import resource

import biosnn


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _best(f, k: int = 5) -> float:
    times = []
    for _ in range(k):
        c = _cpu()
        f()
        times.append(_cpu() - c)
    return min(times)


def main() -> None:
    m = biosnn.load_model("hodgkin_huxley").with_params(I_ext=10)
    biosnn.simulate(m, 1, n=64, record=[], backend="c")  # compile or load
    biosnn.simulate(m, 1, method="dop853", rtol=1e-6, atol=1e-8, record=[], backend="c")
    big = _best(lambda: biosnn.simulate(m, 1000, n=64, record=[], backend="c"))
    ada = _best(
        lambda: biosnn.simulate(
            m, 1000, n=16, method="dop853", rtol=1e-6, atol=1e-8, record=[], backend="c"
        )
    )
    small = (
        _best(lambda: [biosnn.simulate(m, 0.1, record=[], backend="c") for _ in range(200)], 3)
        / 200
    )
    print(
        f"rk4 64 x 1e5 steps: {big:.3f} s CPU; dop853 16 x 1000 ms: {ada:.3f} s; "
        f"one tiny simulate call: {small * 1e3:.3f} ms"
    )


if __name__ == "__main__":
    main()
