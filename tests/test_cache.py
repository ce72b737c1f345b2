"""The cache is data, not a door (issue 9, section 2; docs/architecture.md, "The cache").

Each test is a reproducer from the issue: a file planted in or damaged inside
``$BIOSNN_CACHE_DIR`` must neither run code, nor load a library from elsewhere, nor
change a result, nor crash the process; a cache directory others could write is refused;
a change to any module of biosnn invalidates every cached artifact.  The runs that could
crash (SIGBUS, SIGILL) or that must start cold/warm run in fresh subprocesses.

Reference numbers are the runs themselves on a fresh cache (the claim under test is that
the tampered cache gives the same result as a clean one), and for the LIF network the
closed form of the firing period (see ``test_edited_lowering_module_...``).

The tests are written against the behaviour (files on disk, results, exit status), not
against :mod:`biosnn.cache`, so they also run against the code before the fix (where they
fail); :func:`_plant_record` writes a JSON file in whatever form the code under test
reads (a checked record if :mod:`biosnn.cache` exists, plain JSON before).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import biosnn
from biosnn.codegen import c_build

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(biosnn.__file__).resolve().parent
needs_c = pytest.mark.skipif(c_build.find_compiler() is None, reason="no C compiler")

# LIF through the C backend (exact method): final V of three instances and the spikes
_LIF_C = r"""
import json, sys
import biosnn
m = biosnn.Model("dv/dt = (I - v)/tau : volt", params={"tau": "10 ms", "I": "25 mV",
                 "theta": "20 mV"}, threshold="v > theta", reset="v = 0*mV",
                 init={"v": "0 mV"}, name="lif_cache")
r = biosnn.simulate(m, 100.0, method=sys.argv[1], dt=0.1, backend=sys.argv[2], n=3)
print(json.dumps({"v": [float(x).hex() for x in r["v"][:, -1]],
                  "spikes": [len(s) for s in r.spikes], "backend": r.stats["backend"]}))
"""

# HH: initial state from expressions (initial_source), the NumPy kernel (numpy_source)
_HH_NUMPY = r"""
import json
import biosnn
hh = biosnn.load_model("hodgkin_huxley")
r = biosnn.simulate(hh, 20.0, method="rk4", dt=0.025, backend="numpy",
                    params={"I_ext": 10.0})
print(json.dumps({"V": float(r["V"][0, -1]).hex(), "spikes": len(r.spikes[0]),
                  "m0": float(hh.initial_state()["m"]).hex()}))
"""


def _run(code: str, cache: Path, *args, pythonpath=None, check=True):
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(cache))
    if pythonpath is not None:  # run there: "-c" puts the working directory first
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=pythonpath or ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if not check:
        return proc
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _json_body(path: Path):
    """The JSON of a cache file, with or without a record header line."""
    text = path.read_text(encoding="utf-8")
    if text.startswith("biosnn-record"):
        text = text.partition("\n")[2]
    return json.loads(text)


def _plant_record(path: Path, data) -> None:
    """Write ``data`` as the code under test reads a JSON cache file: a record with a
    correct hash line (as a deliberate planter would) when biosnn.cache exists.
    """
    try:
        from biosnn import cache
    except ImportError:
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        cache.write_record(path, data)


def _marker_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('planted code ran')\n"


# -- the directory: private, owned, not writable by others ------------------------------
def test_cache_directories_are_created_private(tmp_path):
    cache = tmp_path / "new" / "cache"
    _run(_LIF_C, cache, "euler", "numpy")
    c_dir = _run_cache_dir(cache)
    for d in (cache, cache / "models", c_dir):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d  # before: 0755


def _run_cache_dir(cache: Path) -> Path:
    code = "from biosnn.codegen import c_build; print(c_build.cache_dir())"
    env = dict(os.environ, BIOSNN_CACHE_DIR=str(cache))
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return Path(out.stdout.strip())


def test_world_writable_cache_is_refused_with_the_path_and_the_fix(tmp_path):
    cache = tmp_path / "shared"
    cache.mkdir()
    os.chmod(cache, 0o777)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "biosnn",
            "simulate",
            "lif",
            "--duration",
            "10",
            "--backend",
            "numpy",
        ],
        env=dict(os.environ, BIOSNN_CACHE_DIR=str(cache)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr  # before: 0, cache used
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(cache) in lines[0] and "writable by group or others" in lines[0]
    assert "chmod 700" in lines[0] and "BIOSNN_CACHE_DIR" in lines[0]
    assert not any(cache.iterdir())  # nothing was written


def test_group_writable_cache_is_refused_in_python(tmp_path, monkeypatch):
    from biosnn.errors import BiosnnError

    cache = tmp_path / "group"
    cache.mkdir()
    os.chmod(cache, 0o770)
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(cache))
    with pytest.raises(BiosnnError, match="writable by group or others"):
        c_build.cache_dir()


def test_cache_of_another_user_is_refused(tmp_path, monkeypatch):
    # We run as root here and cannot chown to a real other user portably, so the check is
    # exercised by making the process believe it is another user (os.geteuid).
    from biosnn.errors import BiosnnError

    cache = tmp_path / "theirs"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(cache))
    me = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: me + 4242)
    monkeypatch.setattr(os, "getuid", lambda: me + 4242)
    with pytest.raises(BiosnnError, match="belongs to another user") as info:
        c_build.cache_dir()
    assert str(cache) in str(info.value) and "BIOSNN_CACHE_DIR" in str(info.value)


def test_a_cache_that_cannot_be_created_is_skipped_on_numpy(tmp_path):
    # Not unsafe, only unusable (a read-only home, say; we are root here, so a path
    # under a regular file stands for it): NumPy runs give the fresh-cache result
    # without a cache, as before (a guard, not a reproducer).
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    fresh = _run(_LIF_C, tmp_path / "fresh", "euler", "numpy")
    assert _run(_LIF_C, blocker / "cache", "euler", "numpy") == fresh


# -- code planted in the cache never runs -----------------------------------------------
def test_planted_pint_pickle_is_never_unpickled(tmp_path):
    pint = pytest.importorskip("pint")
    cache = tmp_path / "cache"
    marker = tmp_path / "pickle-ran"
    # the files pint's own cache writes (the old biosnn used $BIOSNN_CACHE_DIR/pint)
    pint.UnitRegistry(cache_folder=cache / "pint")
    planted = [p for p in (cache / "pint").rglob("*") if p.is_file()]
    assert planted
    payload = (
        "cbuiltins\nexec\n(V" + _marker_code(marker).replace("\n", "\\u000a") + "\ntR."
    ).encode()  # pickle protocol 0: exec(...)
    for p in planted:
        p.write_bytes(payload)
    os.chmod(cache, 0o700)
    # a unit that is in no unit cache yet: pint is asked
    code = "import json; from biosnn import units; print(json.dumps(units.parse_unit('mmol/l')[0]))"
    assert _run(code, cache) == 1.0  # mmol/l = mM, internal unit
    assert not marker.exists()  # before: the pickle ran


def test_planted_source_in_manifests_is_not_executed(tmp_path):
    cache = tmp_path / "cache"
    clean = _run(_HH_NUMPY, cache)
    marker = tmp_path / "source-ran"
    planted = 0
    for path in sorted((cache / "models").glob("*.json")):
        data = _json_body(path)
        for field in ("initial_source", "numeric_source", "numpy_source", "source"):
            if field in data:
                data[field] = _marker_code(marker)
                planted += 1
        _plant_record(path, data)
    assert planted >= 3  # initial_source, numeric_ and numpy_source
    again = _run(_HH_NUMPY, cache)
    assert not marker.exists()  # before: the planted source ran
    assert again == clean
    assert _run(_HH_NUMPY, cache) == clean  # and the rebuilt entries are good


def test_source_blob_that_does_not_match_its_hash_is_not_executed(tmp_path):
    cache = tmp_path / "cache"
    clean = _run(_HH_NUMPY, cache)
    marker = tmp_path / "blob-ran"
    blobs = sorted((cache / "models").glob("*.py"))
    assert blobs  # generated source is stored as blobs
    for p in blobs:
        p.write_text(_marker_code(marker))
    assert _run(_HH_NUMPY, cache) == clean
    assert not marker.exists()


def test_poisoned_unit_factor_does_not_change_a_result(tmp_path):
    # "millivolt" is a pint name outside biosnn's shipped table (mV is in it): the unit
    # cache file holds it
    lif = _LIF_C.replace('"25 mV"', '"25 millivolt"')
    cache = tmp_path / "cache"
    fresh = _run(lif, tmp_path / "fresh", "euler", "numpy")
    assert fresh == _run(_LIF_C, tmp_path / "fresh", "euler", "numpy")  # 25 millivolt = 25 mV
    _run(lif.replace("lif_cache", "lif_other"), cache, "euler", "numpy")
    (units,) = cache.glob("units-*.json")
    # edit the factor of millivolt in the file (a damaged or tampered file), keeping any header
    text = units.read_text(encoding="utf-8")
    head, sep, body = text.partition("\n") if text.startswith("biosnn-record") else ("", "", text)
    data = json.loads(body)
    poisoned = 0
    for section in data.values():
        if isinstance(section, dict) and "millivolt" in section:
            section["millivolt"][0] = 1.1
            poisoned += 1
    assert poisoned
    units.write_text(head + sep + json.dumps(data), encoding="utf-8")
    # a model not built before (new manifest) takes its factors from the unit table
    got = _run(lif, cache, "euler", "numpy")
    assert got == fresh  # before: v and spike counts changed


# -- libraries: only hash-checked files of the cache are loaded -------------------------
@needs_c
def test_alias_pointing_outside_the_cache_is_not_loaded(tmp_path):
    cache = tmp_path / "cache"
    clean = _run(_LIF_C, cache, "exact", "c")
    marker = tmp_path / "library-ran"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    src = elsewhere / "lib.c"
    src.write_text(
        textwrap.dedent(f"""
        #include <stdio.h>
        __attribute__((constructor)) static void planted(void) {{
            FILE *f = fopen("{marker}", "w"); if (f) {{ fputs("ran", f); fclose(f); }}
        }}
        int bs_run(void *a) {{ (void)a; return 0; }}
    """)
    )
    cc = c_build.find_compiler()
    subprocess.run(
        [*cc.argv, "-shared", "-fPIC", "-o", str(elsewhere / "lib.so"), str(src)],
        check=True,
        capture_output=True,
    )
    aliases = list((cache / "c").glob("alias-*.txt"))
    assert aliases
    for alias in aliases:
        alias.write_text("../../elsewhere/lib")
    again = _run(_LIF_C, cache, "exact", "c", check=False)
    assert not marker.exists()  # before: the planted library was loaded
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout.strip().splitlines()[-1]) == clean


def _damage_libraries(cache: Path, how: str) -> int:
    libs = sorted((cache / "c").glob("*.so"))
    for lib in libs:
        data = lib.read_bytes()
        if how == "truncate":
            lib.write_bytes(data[: len(data) // 3])
        elif how == "zero":
            lib.write_bytes(b"")
        elif how == "flip":
            # ud2 (an illegal instruction) over the middle of the file: the code section
            n = len(data)
            lib.write_bytes(
                data[: n // 4]
                + b"\x0f\x0b" * ((n // 2) // 2)
                + data[n // 4 + 2 * ((n // 2) // 2) :]
            )
        else:
            lib.write_bytes(b"garbage, not an ELF file\n" * 10)
    return len(libs)


@needs_c
@pytest.mark.parametrize("how", ["truncate", "zero", "flip", "garbage"])
def test_damaged_library_is_rebuilt_not_loaded(tmp_path, how):
    cache = tmp_path / "cache"
    clean = _run(_LIF_C, cache, "exact", "c")
    assert _damage_libraries(cache, how)
    # before: SIGBUS (truncated), SIGILL (flipped); a zero-length or garbage probe
    # library made "c" silently run on NumPy ("no C compiler found")
    again = _run(_LIF_C, cache, "exact", "c", check=False)
    assert again.returncode == 0, (again.returncode, again.stderr[-2000:])
    assert json.loads(again.stdout.strip().splitlines()[-1]) == clean
    assert _run(_LIF_C, cache, "exact", "c") == clean  # repaired for good


# the network C engine: spike counts of 3 LIF neurons driven above threshold
_NET = r"""
import json, sys
from biosnn import Model
from biosnn.network import Network, Population, SpikeMonitor
m = Model("dV/dt = (I - V)/tau : volt", params={"tau": "10 ms", "I": "25 mV",
          "theta": "20 mV"}, threshold="V > theta", reset="V = 0*mV",
          init={"V": "0 mV"}, name="drift")
out = {}
for backend in sys.argv[1].split(","):
    P = Population(m, 3, method="euler")
    mon = SpikeMonitor(P)
    net = Network(P, mon, seed=1, backend=backend)
    net.run(100.0)
    out[backend] = mon.count.tolist()
print(json.dumps(out))
"""


@needs_c
@pytest.mark.parametrize("how", ["truncate", "garbage-json", "objects"])
def test_damaged_network_library_or_snippets_are_rebuilt(tmp_path, how):
    cache = tmp_path / "cache"
    clean = _run(_NET, cache, "c")
    if how == "truncate":
        assert _damage_libraries(cache, how)
    elif how == "objects":
        # the cached objects of the network's units (biosnn.network._units) truncated and
        # the libraries removed: the units are compiled again, never linked damaged
        objects = sorted((cache / "c").glob("*.o"))
        assert objects
        for p in objects:
            p.write_bytes(p.read_bytes()[:100])
        for lib in (cache / "c").glob("*.so"):
            lib.unlink()
    else:
        files = [p for p in (cache / "c").glob("*.json") if not p.name.startswith("openmp")]
        assert files
        for p in files:
            p.write_text("{not json")  # before: a JSON traceback on every later run
    assert _run(_NET, cache, "c") == clean


@needs_c
def test_stale_temporaries_of_a_killed_compile_are_removed(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(cache))
    c_dir = c_build.cache_dir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    old = 1e9  # 2001: far older than any compile
    stale = [c_dir / f".tmp-{dead.pid}-abc.so", c_dir / ".tmp-xyz.so"]
    for p in stale:
        p.write_bytes(b"\x7fELF half a library")
        os.utime(p, (old, old))
    stale_dir = c_dir / f".tmp-{dead.pid}-units"
    stale_dir.mkdir()
    (stale_dir / "kernels.o").write_bytes(b"half an object")
    os.utime(stale_dir, (old, old))
    live = c_dir / f".tmp-{os.getpid()}-live.so"  # a compile still running
    live.write_bytes(b"")
    lib = c_build.build("double bs_stale_probe(double x) { return x; }\n")
    assert lib.exists()
    assert not any(p.exists() for p in stale) and not stale_dir.exists()
    assert live.exists()


# -- one key for everything --------------------------------------------------------------
@needs_c
@pytest.mark.slow
def test_edited_lowering_module_invalidates_the_network_library(tmp_path):
    # A copy of the installed package; the C and NumPy network engines share one cache.
    pkg = tmp_path / "pkg"
    shutil.copytree(PACKAGE, pkg / "biosnn", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    before = _run(_NET, cache, "c,numpy", pythonpath=pkg)
    # Reference (closed form of Euler's recursion): from V = 0, V_n = I (1 - (1 - dt/tau)^n)
    # = 25 mV (1 - 0.99^n) exceeds theta = 20 mV first at n = 161 (0.99^n < 0.2), and the
    # reset restarts from 0: spikes at 16.1, 32.2, ..., 96.6 ms, 6 in 100 ms.
    assert before["c"] == before["numpy"] == [6, 6, 6]
    # double every drift term, as the reproducer did, in codegen/rewrite.py
    rewrite = pkg / "biosnn" / "codegen" / "rewrite.py"
    text = rewrite.read_text()
    old = "    for rewrite in PASSES:\n        expr = rewrite(expr)\n    return expr\n"
    assert old in text
    rewrite.write_text(text.replace(old, old.replace("return expr", "return 2*expr")))
    after = _run(_NET, cache, "c,numpy", pythonpath=pkg)
    # dV/dt doubled: 0.98^n < 0.2 first at n = 80, spikes every 8 ms: 12 in 100 ms
    assert after["numpy"] == [12, 12, 12]
    assert after["c"] == after["numpy"]  # before the fix: [6, 6, 6], stale library


@needs_c
def test_compiler_behind_a_wrapper_is_part_of_the_identity(tmp_path, monkeypatch):
    # "ccache gcc": upgrading gcc must change the key although ccache did not change
    wrapper = tmp_path / "bin" / "wrapcc"
    wrapper.parent.mkdir()
    wrapper.write_text('#!/bin/sh\nexec "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    inner = c_build.find_compiler().path
    compiler = c_build.Compiler(["wrapcc", inner])
    st = os.stat(inner)
    assert f"{inner}|{st.st_size}|{st.st_mtime_ns}" in compiler.identity


# -- the primitives of biosnn.cache (unit tests of the new module) -----------------------
def test_refs_hold_a_digest_and_nothing_else(tmp_path):
    from biosnn import cache

    ref = tmp_path / "x.lib"
    digest = "0123456789abcdef" * 4
    cache.write_ref(ref, digest)
    assert cache.read_ref(ref) == digest
    for text in (
        "../../elsewhere/lib",
        "",
        "garbage",
        digest.upper(),
        digest + "/x",
        "/" + digest,
        digest[:-1],
    ):
        ref.write_text(text)
        assert cache.read_ref(ref) is None, text
    with pytest.raises(ValueError):
        cache.write_ref(ref, "../lib")


def test_records_detect_any_edit_of_their_body(tmp_path):
    from biosnn import cache

    path = tmp_path / "r.json"
    cache.write_record(path, {"mV": [1.0, "[voltage]=1"]})
    assert cache.read_record(path) == {"mV": [1.0, "[voltage]=1"]}
    data = path.read_bytes()
    path.write_bytes(data.replace(b"1.0", b"1.1"))  # a poisoned factor
    assert cache.read_record(path) is None
    path.write_bytes(data[: len(data) - 3])  # truncated
    assert cache.read_record(path) is None
    path.write_bytes(data.partition(b"\n")[2])  # no header
    assert cache.read_record(path) is None


def test_blobs_are_read_only_if_they_hash_to_their_name(tmp_path):
    from biosnn import cache

    digest = cache.put_blob(tmp_path, b"generated source\n", ".py")
    assert cache.read_blob(tmp_path, digest, ".py") == b"generated source\n"
    (tmp_path / f"{digest}.py").write_bytes(b"planted source\n")
    assert cache.read_blob(tmp_path, digest, ".py") is None
    assert not (tmp_path / f"{digest}.py").exists()  # removed: rebuilt next time
    assert cache.read_blob(tmp_path, "../../etc/passwd", "") is None


def test_package_key_covers_every_source_file_and_nothing_else(tmp_path):
    from biosnn import cache

    pkg = tmp_path / "biosnn"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    key = cache._hash_package(pkg, "0.1.0")
    assert key == cache._hash_package(pkg, "0.1.0")
    assert cache._hash_package(pkg, "0.1.1") != key  # the version
    (pkg / "__pycache__").mkdir(exist_ok=True)
    (pkg / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")
    (pkg / "notes.txt").write_text("not source")
    assert cache._hash_package(pkg, "0.1.0") == key  # ignored
    deep = pkg / "network" / "_lower.py"
    deep.write_text(deep.read_text() + "\n# edited\n")
    assert cache._hash_package(pkg, "0.1.0") != key  # any module
    (pkg / "codegen" / "runtime.h").write_text("/* C runtime */\n")
    assert cache._hash_package(pkg, "0.1.0") != key  # C files too


def test_young_or_live_temporaries_are_kept(tmp_path):
    from biosnn import cache

    young = tmp_path / ".tmp-999999999-young.so"  # just written
    young.write_bytes(b"")
    live = tmp_path / f".tmp-{os.getpid()}-live.so"
    live.write_bytes(b"")
    ten_minutes_ago = time.time() - 600
    os.utime(live, (ten_minutes_ago, ten_minutes_ago))  # its process still runs
    cache.clean_stale(tmp_path)
    assert young.exists() and live.exists()


def test_remembered_package_key_follows_every_edit(tmp_path, monkeypatch):
    # The key is remembered with the files' stat signature; an edit that keeps the size
    # must still change it, and a damaged memo is never used.
    from biosnn import cache

    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "RACY_NS", -(10**12))  # trust a memo written right away
    pkg = tmp_path / "biosnn"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    key = cache._package_key(pkg, "0.1.0")
    assert key == cache._hash_package(pkg, "0.1.0")  # reference: the bytes hashed
    (memo,) = (tmp_path / "cache").glob("package-*.json")
    real = cache._hash_files
    monkeypatch.setattr(cache, "_hash_files", lambda *a: pytest.fail("hashed again"))
    assert cache._package_key(pkg, "0.1.0") == key  # from the memo
    monkeypatch.setattr(cache, "_hash_files", real)
    rewrite = pkg / "codegen" / "rewrite.py"
    text = rewrite.read_text()
    rewrite.write_text(text.replace("return expr\n", "return EXPR\n", 1))  # same size
    assert cache._package_key(pkg, "0.1.0") == cache._hash_package(pkg, "0.1.0") != key
    memo.write_bytes(memo.read_bytes().replace(b'"key":"', b'"key":"0'))  # damaged
    assert cache._package_key(pkg, "0.1.0") == cache._hash_package(pkg, "0.1.0")


def test_racy_memo_is_not_trusted(tmp_path, monkeypatch):
    # a memo written within RACY_NS of the newest file change is not used: an edit in the
    # same timestamp tick could leave the stat signature unchanged
    from biosnn import cache

    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path / "cache"))
    pkg = tmp_path / "biosnn"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    key = cache._package_key(pkg, "0.1.0")  # files just written: racy
    calls = []
    real = cache._hash_files
    monkeypatch.setattr(cache, "_hash_files", lambda *a: calls.append(1) or real(*a))
    assert cache._package_key(pkg, "0.1.0") == key and calls == [1]
