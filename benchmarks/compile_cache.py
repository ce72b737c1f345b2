"""C kernel compile and cache: the first compile of HH, and the cached kernel in a new process.

Goals: first C compile of Hodgkin-Huxley < 1 s; loading the cached kernel in a NEW process
< 50 ms.  Everything runs in fresh Python processes with ``BIOSNN_CACHE_DIR`` set to a new
temporary directory, so no earlier cache is used:

1. cold process: ``load_model("hodgkin_huxley")``, then the first ``simulate(..., backend="c")``
   of a 1 ms run (kernel spec, C printing, compiling, loading, running), then the same call
   again (warm, same process).  "first-call overhead" = first - second.
2. warm processes (--repeat of them, best is reported): the same, against the filled cache.
   "cached-kernel overhead" = first - second call in a NEW process: finding the kernel on
   disk by its key and dlopen-ing it, plus whatever else the first call does.
3. the compiler alone: the cached ``.c`` sources recompiled with ``biosnn.codegen.c_build.build``
   into another fresh directory (gcc time, no Python work; wall time and the compiler's
   CPU time, which a loaded machine inflates much less).  A source of several units
   (the fixed family: kernels and driver, compiled in parallel) also shows each unit's
   CPU time compiled alone.

4. the price of the cache's trust rules (docs/architecture.md, "The cache"): hashing each
   cached library before ``dlopen`` (``biosnn.cache.verified_blob``, best of 20) and
   computing the package key (``biosnn.cache.package_key``: every .py/.c/.h of biosnn)
   from the bytes and from its memo (stat signature), with the files in the OS page
   cache and after evicting them (``posix_fadvise(DONTNEED)``), best and median of 20.

When the C backend calls ``c_build.build`` / ``c_build.load_library`` through the module,
the child also reports the time spent inside them (``build_s``, ``load_s``).

    .venv/bin/python benchmarks/compile_cache.py
    .venv/bin/python benchmarks/compile_cache.py --methods rk4,dop853 --repeat 5
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit_json

ROOT = Path(__file__).resolve().parent.parent
METHOD_ARGS = {
    "rk4": dict(dt=0.01),
    "exponential_euler": dict(dt=0.025),
    "dop853": dict(rtol=1e-6, atol=1e-6),
    "rk45": dict(rtol=1e-6, atol=1e-6),
}


def child(method: str) -> None:
    """Runs in a fresh process; prints one JSON object with its timings."""
    t_start = time.perf_counter()
    import biosnn

    t_import = time.perf_counter() - t_start
    spent: dict = {}
    # Instrument a few entry points (seen only where they are called through the module
    # attribute, which is how biosnn calls them today): where the first call's time goes.
    probes = [
        ("biosnn.equations.model", "build_kernel_spec", "kernel_spec"),
        ("biosnn.codegen.c_backend", "kernel", "c_kernel"),
        ("biosnn.codegen.c_backend", "generate_source", "c_source"),
        ("biosnn.codegen.c_build", "build", "build"),
        ("biosnn.codegen.c_build", "load_library", "load"),
    ]
    for module_name, attr, key in probes:
        try:
            module = importlib.import_module(module_name)
            inner = getattr(module, attr)
        except (ImportError, AttributeError):
            continue

        def timed_call(*a, _inner=inner, _key=key, **k):
            t0 = time.perf_counter()
            try:
                return _inner(*a, **k)
            finally:
                spent[_key + "_s"] = spent.get(_key + "_s", 0.0) + time.perf_counter() - t0
                spent[_key + "_calls"] = spent.get(_key + "_calls", 0) + 1

        setattr(module, attr, timed_call)
    t0 = time.perf_counter()
    model = biosnn.load_model("hodgkin_huxley")
    t_model = time.perf_counter() - t0
    kw = dict(METHOD_ARGS[method], method=method, backend="c", params={"I_ext": 10.0})
    c0, t0 = time.process_time(), time.perf_counter()
    res = biosnn.simulate(model, 1.0, **kw)
    t_first, c_first = time.perf_counter() - t0, time.process_time() - c0
    first_spent = dict(spent)
    c0, t0 = time.process_time(), time.perf_counter()
    biosnn.simulate(model, 1.0, **kw)
    t_second, c_second = time.perf_counter() - t0, time.process_time() - c0
    print(
        json.dumps(
            dict(
                import_s=t_import,
                load_model_s=t_model,
                first_call_s=t_first,
                second_call_s=t_second,
                overhead_s=t_first - t_second,
                overhead_cpu_s=c_first - c_second,
                first=first_spent,
                to_here_s=time.perf_counter() - t_start,
                backend=str(res.stats.get("backend", "?")),
            )
        )
    )


def run_child(method: str, cache: str) -> dict:
    # As an installed package runs: with bytecode (this machine sets
    # PYTHONDONTWRITEBYTECODE=1, and the first call would then recompile every module it
    # imports late, 20-40 ms of the "first-call overhead"); in a private directory.
    env = dict(os.environ, BIOSNN_CACHE_DIR=cache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault(
        "PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "biosnn-bench-pycache")
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", method],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = wall
    return out


def _children_cpu() -> float:
    """CPU seconds (user + system) of all finished child processes (the compiler)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def compile_only(cache: Path) -> list:
    """Recompile every cached kernel source into a fresh cache: pure compiler time."""
    from biosnn.codegen import c_build

    times = []
    with tempfile.TemporaryDirectory(prefix="biosnn-bench-cc-") as fresh:
        old = os.environ.get("BIOSNN_CACHE_DIR")
        os.environ["BIOSNN_CACHE_DIR"] = fresh
        try:
            for src in sorted((cache / "c").glob("*.c")):
                text = src.read_text()
                if "bs_probe" in text and len(text) < 200:
                    continue  # the compiler probe
                r0, t0 = _children_cpu(), time.perf_counter()
                c_build.build(text)
                times.append(
                    (
                        src.name[:12],
                        len(text),
                        time.perf_counter() - t0,
                        _children_cpu() - r0,
                        unit_cpu(text),
                    )
                )
        finally:
            if old is None:
                os.environ.pop("BIOSNN_CACHE_DIR", None)
            else:
                os.environ["BIOSNN_CACHE_DIR"] = old
    return times


def unit_cpu(text: str) -> list:
    """(unit, CPU s) of compiling each unit of ``text`` alone, one after the other.

    ``c_build.build`` runs the units in parallel; with free cores its wall time is the
    slowest unit plus the link, which this shows on a loaded machine too.
    """
    from biosnn.codegen import c_build

    compiler = c_build.find_compiler()
    out = []
    with tempfile.TemporaryDirectory(prefix="biosnn-bench-units-") as tmp:
        for name, opt, unit in c_build.split_units(text):
            c_file = Path(tmp) / f"{name}.c"
            c_file.write_text(unit)
            r0 = _children_cpu()
            subprocess.run(
                c_build.unit_command(compiler, opt, c_file, c_file.with_suffix(".o")),
                check=True,
                capture_output=True,
            )
            out.append((name, _children_cpu() - r0))
    return out


def library_hash_costs(cache: Path) -> list:
    """(name, bytes, best seconds of 20) of hashing each cached library before dlopen."""
    from biosnn import cache as trust

    out = []
    for lib in sorted((cache / "c").glob("*.so")):
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            assert trust.verified_blob(lib)
            times.append(time.perf_counter() - t0)
        out.append((lib.name[:12], lib.stat().st_size, min(times)))
    return out


def package_key_costs(repeat: int = 20) -> dict:
    """Seconds to compute the package key: files in the page cache / evicted first."""
    import biosnn
    from biosnn import cache as trust

    pkg = Path(biosnn.__file__).resolve().parent
    files = [
        p for p in pkg.rglob("*") if p.suffix in trust.KEY_SUFFIXES and "__pycache__" not in p.parts
    ]

    def timed(evict: bool, fn=trust._hash_package) -> list:
        # fn = trust._package_key: the path every process takes (stat signature + the
        # remembered key); trust._hash_package: hashing every file
        times = []
        for _ in range(repeat):
            if evict:
                for p in files:
                    fd = os.open(p, os.O_RDONLY)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    os.close(fd)
            t0 = time.perf_counter()
            fn(pkg, biosnn.__version__)
            times.append(time.perf_counter() - t0)
        return sorted(times)

    warm, cold = timed(False), timed(True)
    with tempfile.TemporaryDirectory(prefix="biosnn-bench-key-") as memo_cache:
        old = os.environ.get("BIOSNN_CACHE_DIR")
        os.environ["BIOSNN_CACHE_DIR"] = memo_cache
        try:
            trust._package_key(pkg, biosnn.__version__)  # writes the memo
            memo = trust._package_key
            memo_warm, memo_cold = timed(False, memo), timed(True, memo)
        finally:
            if old is None:
                os.environ.pop("BIOSNN_CACHE_DIR", None)
            else:
                os.environ["BIOSNN_CACHE_DIR"] = old
    return dict(
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        warm_best_s=warm[0],
        warm_median_s=warm[len(warm) // 2],
        evicted_best_s=cold[0],
        evicted_median_s=cold[len(cold) // 2],
        memo_warm_best_s=memo_warm[0],
        memo_warm_median_s=memo_warm[len(warm) // 2],
        memo_evicted_best_s=memo_cold[0],
        memo_evicted_median_s=memo_cold[len(cold) // 2],
    )


def _breakdown(first: dict) -> str:
    names = {
        "kernel_spec": "KernelSpec (sympy)",
        "c_kernel": "c_backend.kernel (find/build)",
        "c_source": "C printing",
        "build": "c_build.build (compile)",
        "load": "dlopen",
    }
    parts = [
        f"{label} {first[key + '_s'] * 1e3:.1f} ms"
        for key, label in names.items()
        if key + "_s" in first
    ]
    return "of which: " + ("; ".join(parts) if parts else "(no probe fired)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--methods",
        default="rk4,dop853",
        help="one kernel per driver family: fixed step (rk4), adaptive (dop853)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="warm processes (best of)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child)
        return 0

    results = {}
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory(prefix="biosnn-bench-cache-") as cache:
            cold = run_child(method, cache)
            warm = [run_child(method, cache) for _ in range(max(1, args.repeat))]
            best = min(warm, key=lambda r: r["overhead_s"])
            cc = compile_only(Path(cache))
            hashes = library_hash_costs(Path(cache))
        results[method] = dict(
            cold=cold,
            warm_best=best,
            library_hash=[dict(library=n, bytes=b, best_s=t) for n, b, t in hashes],
            compiler_only=[
                dict(source=s, chars=n, seconds=t, cpu_s=c, units_cpu_s=dict(u))
                for s, n, t, c, u in cc
            ],
        )
        print(f"HH, {method} kernel (backend {cold['backend']}), fresh BIOSNN_CACHE_DIR:")
        print(
            f"  cold cache, first call   {cold['first_call_s']:7.3f} s wall, overhead over a "
            f"warm call {cold['overhead_s']:.3f} s wall / {cold['overhead_cpu_s']:.3f} s cpu"
        )
        print("    " + _breakdown(cold["first"]))
        for _s, n, t, c, u in cc:
            print(
                f"    compiler alone ({n} chars of C)  {t:7.3f} s wall / {c:.3f} s cpu   "
                "(goal: first compile < 1 s)"
            )
            if len(u) > 1:
                print(
                    "      its units compiled one at a time: "
                    + ", ".join(f"{name} {cpu:.3f} s cpu" for name, cpu in u)
                    + " (built in parallel: "
                    "the slowest unit + the link is the wall time on free cores)"
                )
        print(
            f"  NEW process, warm cache: first-call overhead {best['overhead_s'] * 1e3:7.1f} ms "
            f"wall / {best['overhead_cpu_s'] * 1e3:.1f} ms cpu   (goal < 50 ms)"
        )
        print("    " + _breakdown(best["first"]))
        print(
            f"    before that: import biosnn {best['import_s'] * 1e3:.1f} ms, load_model "
            f"{best['load_model_s'] * 1e3:.1f} ms; whole process {best['process_wall_s']:.2f} s"
        )
        for name, size, t in hashes:
            print(
                f"    sha256 check before dlopen of {name}... ({size / 1e3:.0f} kB): "
                f"{t * 1e3:.3f} ms (best of 20)"
            )
    key = package_key_costs()
    print(
        f"package key ({key['files']} files, {key['bytes'] / 1e6:.2f} MB, once per process): "
        f"hashing the bytes {key['warm_best_s'] * 1e3:.2f} ms best / "
        f"{key['warm_median_s'] * 1e3:.2f} ms median in the page cache; "
        f"{key['evicted_best_s'] * 1e3:.1f} / {key['evicted_median_s'] * 1e3:.1f} ms with "
        f"the files evicted; remembered (stat signature): "
        f"{key['memo_warm_best_s'] * 1e3:.2f} / {key['memo_warm_median_s'] * 1e3:.2f} ms, "
        f"evicted {key['memo_evicted_best_s'] * 1e3:.2f} / "
        f"{key['memo_evicted_median_s'] * 1e3:.2f} ms"
    )
    emit_json("compile_cache", dict(results=results, package_key=key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
