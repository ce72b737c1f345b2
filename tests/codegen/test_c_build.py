"""C build and cache: hits, atomic concurrent compiles, BIOSNN_CACHE_DIR, warm starts,
no recompilation on parameter changes, compiler errors, and the no-compiler fallback.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from biosnn.codegen import c_backend, c_build, c_runtime
from biosnn.errors import CompilerError
from biosnn.solvers.request import RunRequest

sys.path.insert(0, str(Path(__file__).parent))
import test_c_specs as S

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(c_build.find_compiler() is None, reason="no C compiler")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(d))
    return d / "c"


def _libs(cache_dir: Path):
    return sorted(p.name for p in cache_dir.glob("*.so"))


def _lif_request(n=2, **params):
    spec = S.lif_spec()
    values = dict(S.LIF_PARAMS, **params)
    return spec, RunRequest(
        method="rk4",
        t0=0.0,
        t1=50.0,
        dt=0.1,
        rtol=None,
        atol=None,
        y0=np.full((1, n), -70.0),
        params=S.param_array(spec, values, n),
        record_states=(0,),
    )


def test_cache_dir_honoured_and_build_hit(cache):
    src = "double f(double x) { return 2*x; }\n"
    lib = c_build.build(src)
    assert lib.parent == cache and lib.exists()
    assert (cache / f"{hashlib.sha256(src.encode()).hexdigest()}.c").read_text() == src
    mtime = lib.stat().st_mtime_ns
    assert c_build.build(src) == lib  # hit: same path, not rebuilt
    assert lib.stat().st_mtime_ns == mtime
    assert not list(cache.glob(".tmp-*"))  # no temporaries left behind


def test_key_depends_on_source_and_flags(cache, monkeypatch):
    a = c_build.build("double f(double x) { return x; }\n")
    b = c_build.build("double f(double x) { return x + 1; }\n")
    assert a != b
    compiler = c_build.find_compiler()
    key = c_build.library_key("double f(double x) { return x; }\n", compiler)
    monkeypatch.setattr(c_build, "FLAGS", c_build.FLAGS + ("-DBIOSNN_TEST=1",))
    assert c_build.library_key("double f(double x) { return x; }\n", compiler) != key
    c_build.build("double f(double x) { return x; }\n")
    # compiled again under its own key (the library's bytes, and so its name, may not
    # change: libraries are stored under the hash of their content)
    assert len(list(cache.glob("*.lib"))) == 3


def test_compiler_error_carries_message(cache):
    with pytest.raises(CompilerError, match="(?i)error") as info:
        c_build.build("this is not C;\n")
    assert "this" in str(info.value) or "expected" in str(info.value)
    assert not list(cache.glob(".tmp-*"))


_TWO_UNITS = """#include <stdint.h>
__attribute__((visibility("hidden"))) double bs_twice(double x);
static double bs_common(double x) { return x + 1.0; }
/* biosnn-unit first -O2 */
__attribute__((visibility("hidden"))) double bs_twice(double x) { return 2.0 * bs_common(x); }
/* biosnn-unit second -O1 */
double bs_api(double x) { return bs_twice(x) + bs_common(x); }
"""


def test_split_units_common_part_and_levels():
    units = c_build.split_units(_TWO_UNITS)
    assert [(name, opt) for name, opt, _ in units] == [("first", "-O2"), ("second", "-O1")]
    common = _TWO_UNITS[: _TWO_UNITS.index("/* biosnn-unit first")]
    assert all(text.startswith(common) for _, _, text in units)
    assert "bs_api" not in units[0][2] and "bs_api" in units[1][2]
    assert c_build.split_units("int x;\n") == [("main", None, "int x;\n")]


def test_units_compile_into_one_library(cache):
    import ctypes

    lib = c_build.load_library(c_build.build(_TWO_UNITS))
    lib.bs_api.restype, lib.bs_api.argtypes = ctypes.c_double, [ctypes.c_double]
    assert lib.bs_api(3.0) == 2.0 * 4.0 + 4.0  # across the two units
    assert not hasattr(lib, "bs_twice")  # hidden: not exported
    digest = hashlib.sha256(_TWO_UNITS.encode()).hexdigest()
    assert (cache / f"{digest}.c").read_text() == _TWO_UNITS  # the whole source
    assert not list(cache.glob(".tmp-*"))


def test_unit_compile_error_names_the_unit(cache):
    bad = _TWO_UNITS.replace("return 2.0 * bs_common(x);", "return 2.0 * undefined_y;")
    with pytest.raises(CompilerError, match="first.c") as info:
        c_build.build(bad)
    assert "undefined_y" in str(info.value)
    assert not list(cache.glob(".tmp-*")) and not list(cache.glob("*.so"))


def test_fixed_family_is_two_units(cache):
    src = c_backend.generate_source(S.hh_spec(), "fixed")
    units = c_build.split_units(src)
    assert [(n, o) for n, o, _ in units] == [
        ("kernels", c_backend.KERNEL_OPT),
        ("driver", c_backend.DRIVER_OPT),
    ]
    kernels, driver = units[0][2], units[1][2]
    assert "BS_KERNEL void bs_f_v(" in kernels and "BS_KERNEL void bs_f_v(" not in driver
    assert "int bs_run(bs_args *a)" in driver and "int bs_run(bs_args *a)" not in kernels
    assert len(c_build.split_units(c_backend.generate_source(S.hh_spec(), "adaptive"))) == 1


def test_parameter_change_does_not_recompile(cache, monkeypatch):
    spec, req = _lif_request()
    r1 = c_backend.run(spec, req)
    libs = _libs(cache)
    assert len(libs) == 1

    def no_build(*args, **kwargs):
        raise AssertionError("recompiled")

    monkeypatch.setattr(c_build, "build", no_build)
    spec2, req2 = _lif_request(I=400.0, tau=5.0)
    req2.dt, req2.t1, req2.seed = 0.05, 80.0, 7
    r2 = c_backend.run(spec2, req2)
    assert _libs(cache) == libs
    assert len(r2.spike_time) > len(r1.spike_time)


def test_warm_start_needs_no_printing_or_compiler(cache, monkeypatch):
    spec, req = _lif_request()
    c_backend.run(spec, req)
    c_backend._KERNELS.clear()  # as in a new process
    monkeypatch.setattr(c_build, "build", lambda *a, **k: pytest.fail("compiled"))
    monkeypatch.setattr(c_backend, "generate_source", lambda *a, **k: pytest.fail("printed"))
    k = c_backend.kernel(spec, "fixed")
    assert "bs_run" in k.source  # read back from the cache
    assert len(c_backend.run(spec, req).spike_time) > 0


def test_ckernel_exposes_source(cache):
    spec = S.hh_spec()
    k = c_backend.kernel(spec, "adaptive")
    assert "bs_f(" in k.source and "int bs_run(bs_args *a)" in k.source
    assert k.path.exists() and k.path.parent == cache


_WORKER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from biosnn.codegen import c_backend
    import test_c_specs as S
    k = c_backend.kernel(S.hh_spec(), "rodas")
    print(k.path)
""")


def test_concurrent_compiles_are_atomic(cache):
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(cache.parent))
    code = _WORKER.format(tests=str(Path(__file__).parent))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1
    assert not list(cache.glob(".tmp-*"))
    # the library is complete and loads in this process too
    k = c_backend.kernel(S.hh_spec(), "rodas")
    assert str(k.path) in paths


def test_no_compiler_one_warning_per_process(tmp_path):
    """In a fresh process without a compiler: available() is False and silent, and
    simulate/Network under backend="auto" warn once, naming $CC (biosnn.codegen.backend);
    before, available() itself warned, without naming the compiler, and simulate again.
    """
    code = textwrap.dedent("""
        import warnings
        import biosnn
        from biosnn.codegen import c_backend
        from biosnn.network import Network, Population
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            first, second = c_backend.available(), c_backend.available()
            m = biosnn.Model("dv/dt = -v/(10*ms) : volt")
            backends = [biosnn.simulate(m, 1, dt=0.1).stats["backend"] for _ in range(2)]
            net = Network(Population(m, 2), seed=1)
            net.run(1)
            backends.append(net.stats["backend"])
        msgs = [str(x.message) for x in w]
        print(first, second, backends, len(msgs))
        print(msgs[0])
    """)
    env = dict(os.environ, CC="/nonexistent/cc", BIOSNN_CACHE_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    first, message = out.stdout.strip().splitlines()
    assert first == "False False ['numpy', 'numpy', 'numpy'] 1"
    assert "'/nonexistent/cc'" in message and "instead of compiled C" in message


def test_import_biosnn_stays_light():
    code = (
        "import sys, biosnn; import biosnn.codegen.c_build; "
        "print(sorted(m for m in ('sympy', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_unit_options_in_the_marker():
    src = (
        "int c;\n/* biosnn-unit k -O2 -ffp-contract=fast */\nint k;\n"
        "/* biosnn-unit d -O1 */\nint d;\n"
    )
    units = c_build.split_units(src)
    assert [(n, o) for n, o, _ in units] == [("k", "-O2 -ffp-contract=fast"), ("d", "-O1")]
    compiler = c_build.find_compiler()
    cmd = c_build.unit_command(compiler, units[0][1], "k.c", "k.o")
    assert "-O2" in cmd and "-ffp-contract=fast" in cmd and "-shared" not in cmd
    assert cmd.index("-ffp-contract=fast") > cmd.index("-std=c99")  # overrides ISO mode
    # only an -O level and the listed options make a marker: anything else stays a comment
    for bad in (
        "-O2 -o /tmp/x",
        "-O2 -DX=1",
        "-O2 -I/etc",
        "-O2 -fplugin=/x.so",
        "-O2 -fplugin=x",
        "-O2 -fprofile-generate",
        "-O2 -ffp-contract=fast -o x",
    ):
        assert len(c_build.split_units(f"/* biosnn-unit k {bad} */\nint k;\n")) == 1


_FMA_PROBE = """
BS_CLONES double bs_probe_{name}(double a, double b, double c) {{ return a * b + c; }}
"""


def test_contraction_only_in_the_kernel_unit_and_only_where_the_cpu_fuses(cache):
    # a*b + c with a = 1 + 2^-30, b = 1 - 2^-30, c = -1: a*b = 1 - 2^-60 rounds to 1, so
    # the unfused result is 0 and the fused one -2^-60.  The kernel unit (KERNEL_OPT,
    # with its clones) fuses exactly when the x86-64-v3 clone runs; the driver unit never.
    import ctypes

    src = (
        c_runtime.runtime_text("bs_prelude.h")
        + c_backend.UNIT_MARKER.format(name="kernels", opt=c_backend.KERNEL_OPT)
        + _FMA_PROBE.format(name="kernel")
        + c_backend.UNIT_MARKER.format(name="driver", opt=c_backend.DRIVER_OPT)
        + _FMA_PROBE.format(name="driver")
        + "int bs_probe_v3(void) {\n#if defined(__x86_64__) && defined(__GNUC__) && "
        "!defined(__clang__) && __GNUC__ >= 12 && defined(__linux__)\n"
        '    __builtin_cpu_init(); return __builtin_cpu_supports("x86-64-v3");\n'
        "#else\n    return -1;\n#endif\n}\n"
    )
    lib = c_build.load_library(c_build.build(src))
    args = (1.0 + 2.0**-30, 1.0 - 2.0**-30, -1.0)
    for name in ("bs_probe_kernel", "bs_probe_driver"):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = ctypes.c_double, [ctypes.c_double] * 3
    assert lib.bs_probe_driver(*args) == 0.0
    fused = lib.bs_probe_kernel(*args)
    assert fused in (0.0, -(2.0**-60))
    v3 = lib.bs_probe_v3()
    if v3 >= 0:  # x86-64 Linux, GCC >= 12: the clone rule
        assert (fused != 0.0) == (v3 > 0)


def test_kernels_that_share_a_library_keep_their_own_source(cache):
    # Libraries are stored under the hash of their bytes: two models whose C differs only
    # in the header comment (their names) share one library, but each kernel's source is
    # its own (a guard for the content-addressed cache, not a reproducer of main).
    v, tau = S._syms(["v", "tau"])
    a = S.make_spec("model_a", ["v"], ["tau"], [-v / tau])
    b = S.make_spec("model_b", ["v"], ["tau"], [-v / tau])
    ka, kb = c_backend.kernel(a, "adaptive"), c_backend.kernel(b, "adaptive")
    assert ka.path == kb.path  # same bytes, one library
    c_backend._KERNELS.clear()  # as in a new process
    wa, wb = c_backend.kernel(a, "adaptive"), c_backend.kernel(b, "adaptive")
    assert "model_a" in wa.source and "model_b" not in wa.source
    assert "model_b" in wb.source and "model_a" not in wb.source
