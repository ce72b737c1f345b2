"""A long fuzzing run of the equation -> code path, by hand (not collected by pytest).

    python tests/fuzz_large.py --count 20000 --seed 1 [--minutes 15] [--compile-every 50]

Draws random models (equation texts, and mutations of the library's model files) with
the generators of ``tests/support/fuzzgen.py`` and runs
:func:`fuzzgen.exercise` on each: only :class:`biosnn.errors.BiosnnError` may come out.
Every other exception is a crash; crashes are grouped by root cause (exception type and
innermost biosnn function) and one reproducer of each is printed.  A per-input limit
(``--timeout`` seconds, default 20) counts inputs that hang as ``Timeout``.  The CI
budget of the same check is ``tests/equations/test_fuzz.py``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


class Timeout(Exception):
    """An input that took longer than ``--timeout`` seconds."""


def _alarm(signum, frame):
    raise Timeout()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="inputs to try")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long")
    parser.add_argument(
        "--files", type=float, default=0.4, help="fraction of inputs that are mutated model files"
    )
    parser.add_argument(
        "--run-every", type=int, default=4, help="also simulate (NumPy) every k-th input"
    )
    parser.add_argument(
        "--compile-every",
        type=int,
        default=0,
        help="also generate and compile C every k-th input (0: never)",
    )
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="biosnn-fuzz-")
    os.environ.setdefault("BIOSNN_CACHE_DIR", str(Path(tmp) / "cache"))
    from biosnn.errors import BiosnnError, CompilerError

    from support import fuzzgen  # tests/ is sys.path[0] when run as a script

    rng = random.Random(args.seed)
    chooser = fuzzgen.RandomChooser(rng)
    outcomes, crashes, examples = Counter(), Counter(), {}
    signal.signal(signal.SIGALRM, _alarm)
    t0 = time.perf_counter()
    n = 0
    for n in range(1, args.count + 1):
        if args.minutes and time.perf_counter() - t0 > 60 * args.minutes:
            n -= 1
            break
        is_file = rng.random() < args.files
        if is_file:
            name, text = fuzzgen.mutated_model_file(chooser)
            kwargs, what = None, f"file {name}:\n{text}"
        else:
            kwargs, text, what = fuzzgen.model_kwargs(chooser), None, None
            what = f"Model(**{kwargs!r})"
        compile_c = bool(args.compile_every) and n % args.compile_every == 0
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            fuzzgen.exercise(
                kwargs,
                file_text=text,
                tmp_dir=tmp,
                run=n % args.run_every == 0,
                compile_c=compile_c,
            )
            outcomes["valid"] += 1
        except CompilerError as exc:  # biosnn generated C that does not compile
            outcomes["crash"] += 1
            label = f"CompilerError at {exc.message[:60]!r}"
            crashes[label] += 1
            examples.setdefault(label, (what, exc))
        except BiosnnError:
            outcomes["refused (BiosnnError)"] += 1
        except Timeout as exc:
            outcomes["timeout"] += 1
            crashes["Timeout"] += 1
            examples.setdefault("Timeout", (what, exc))
        except Exception as exc:  # noqa: BLE001 - this is what we count
            outcomes["crash"] += 1
            label = fuzzgen.classify(exc)
            crashes[label] += 1
            examples.setdefault(label, (what, exc))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if n % 200 == 0:
            print(f"{n} inputs, {time.perf_counter() - t0:.0f} s: {dict(outcomes)}", flush=True)
    print(f"\n{n} inputs in {time.perf_counter() - t0:.0f} s (seed {args.seed}): {dict(outcomes)}")
    print(f"{sum(crashes.values())} crashes from {len(crashes)} root causes")
    for label, count in crashes.most_common():
        what, exc = examples[label]
        print(f"\n== {count} x {label}\n{str(exc)[:300]}\n-- input: {what[:1500]}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
