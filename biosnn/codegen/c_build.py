"""Compiler discovery, compilation, the on-disk cache and loading of C kernels.

Cache design
------------
Everything lives in ``$BIOSNN_CACHE_DIR`` (default ``~/.cache/biosnn``), in ``c/``:

* ``<H>.so`` and ``<H>.c`` - a compiled kernel and its source, where
  ``H = sha256(source + compiler identity + flags)``.  Same source, same compiler, same
  flags: same file, in any process, after any kernel restart.
* ``alias-<A>.txt`` - contains ``H``; ``A`` is a key the caller computes *without*
  printing the source (model key + driver family + generator version + compiler identity
  + flags), so a warm start finds the library before any sympy work.

Files are written to a unique temporary name in the same directory and moved into place
with :func:`os.replace` (atomic on POSIX): two processes compiling the same kernel both
produce a complete file and the last rename wins; a reader never sees a partial file.

The compiler identity is the resolved path of the executable plus its size and
modification time (``os.stat``), so a warm start never runs the compiler; the version
string (``cc --version``) is only asked for when compiling.

Flags: ``-O2 -std=c99 -fPIC -shared -fno-math-errno -fno-trapping-math`` (they only drop
``errno`` writes and let the compiler if-convert/vectorize code that could raise a
floating-point exception; IEEE results are unchanged, and ISO C mode keeps
``-ffp-contract=off``, so no FMA contraction - except in a unit whose marker asks for
it, see below).  No ``-ffast-math`` (it would break NaN detection and change results)
and no ``-march=native`` (the cache may be shared by machines of different CPUs; the
fixed-step block kernel instead carries an x86-64-v3 clone selected at load time, see
:mod:`biosnn.codegen.c_backend`).

Compilation units: a source may be split by marker lines ``/* biosnn-unit NAME -On */``
(:func:`split_units`); the text before the first marker is common to all units.  Each
unit is compiled to an object by its own compiler process, all in parallel, with
:data:`FLAGS` at its own ``-O`` level plus the options of its marker, and the
objects are linked into one library.  The cache key is still the hash of the whole
source (markers included), and ``<H>.c`` holds the whole source.  The C backend uses
this for its fixed-step family (kernels at ``-O2 -ffp-contract=fast`` with an
x86-64-v3 (AVX2 + FMA) clone, driver at -O1), so the first compile takes the time of
the larger unit.

OpenMP: ``-fopenmp`` is added when the compiler can build and link an OpenMP probe
(libgomp present), else ``-fopenmp-simd`` (``omp simd`` loops only, no threads).  The
probe runs once per compiler and its answer is cached on disk
(``openmp-<compiler hash>.txt``), so a warm start never runs the compiler; the flags
are part of every cache key (:func:`flags`).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from biosnn.errors import CompilerError

__all__ = [
    "FLAGS",
    "Compiler",
    "flags",
    "openmp_available",
    "build",
    "split_units",
    "cache_dir",
    "compiler_available",
    "find_compiler",
    "require_compiler",
    "load_library",
    "lookup_alias",
    "write_alias",
]

FLAGS = ("-O2", "-std=c99", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math")
#: Added to FLAGS when the compiler supports OpenMP (threads + simd), else the fallback.
OPENMP_FLAGS = ("-fopenmp",)
NO_OPENMP_FLAGS = ("-fopenmp-simd",)
LIBS = ("-lm",)

_LOADED: dict = {}          # path -> ctypes.CDLL (one dlopen per file and process)
_LOCK = threading.Lock()
_AVAILABLE: dict = {}       # compiler identity -> None (works) or why it does not
_OPENMP: dict = {}          # compiler identity -> bool
_FOUND: dict = {}           # ($CC, $PATH) -> Compiler or None
_CACHE_DIRS: dict = {}      # $BIOSNN_CACHE_DIR -> created c/ directory


class Compiler:
    """A C compiler command and its identity.

    Parameters
    ----------
    argv : list of str
        Command (e.g. ``["gcc"]`` or ``["ccache", "gcc"]``).
    """

    def __init__(self, argv):
        self.argv = list(argv)
        exe = shutil.which(self.argv[0])
        if exe is None:
            raise CompilerError(f"C compiler {self.argv[0]!r} not found.")
        self.path = os.path.realpath(exe)
        st = os.stat(self.path)
        self.identity = f"{' '.join(self.argv)}|{self.path}|{st.st_size}|{st.st_mtime_ns}"

    def __repr__(self):
        return f"Compiler({self.argv!r}, path={self.path!r})"


def find_compiler() -> Compiler | None:
    """The compiler to use: ``$CC`` if set, else the first of cc, gcc, clang on PATH.

    Returns None if none is found (``$CC`` set to a missing program counts as none;
    :func:`require_compiler` says what was tried).  The answer is remembered per
    (``$CC``, ``$PATH``) for the process: a run must not pay a ``PATH`` search and
    ``stat`` calls (about 0.3 ms) every time.
    """
    env = os.environ.get("CC")
    memo_key = (env, os.environ.get("PATH"))
    if memo_key not in _FOUND:
        _FOUND[memo_key] = _find_compiler(env)
    return _FOUND[memo_key]


def _find_compiler(env: str | None) -> Compiler | None:
    candidates = [shlex.split(env)] if env else [["cc"], ["gcc"], ["clang"]]
    for argv in candidates:
        if argv and shutil.which(argv[0]):
            try:
                return Compiler(argv)
            except (CompilerError, OSError):
                continue
    return None


def _not_found() -> str:
    """What :func:`find_compiler` tried, as the reason of a CompilerError."""
    env = os.environ.get("CC")
    if env:
        return (f"no C compiler: $CC is {env!r}, which is not a program on PATH (set CC "
                "to a working compiler such as gcc or clang)")
    return ("no C compiler: none of cc, gcc, clang is on PATH (install gcc or clang, or "
            "set CC)")


def require_compiler() -> Compiler:
    """The compiler of :func:`find_compiler`, checked to build and load a small library.

    The check runs once per compiler (and ``$CC``/``$PATH``) and process; its library is
    cached like any other, so a warm start does not run the compiler.

    Returns
    -------
    Compiler

    Raises
    ------
    CompilerError
        Naming the compiler tried (the ``$CC`` value or the programs searched, the
        resolved path) and why it does not work (not found, or its error output).
    """
    compiler = find_compiler()
    if compiler is None:
        raise CompilerError(_not_found())
    ident = compiler.identity
    if ident not in _AVAILABLE:
        try:
            load_library(build(_PROBE, compiler))
            _AVAILABLE[ident] = None
        except (CompilerError, OSError) as exc:
            first = " ".join(str(exc).split())[:500]
            _AVAILABLE[ident] = (f"the C compiler {' '.join(compiler.argv)!r} "
                                 f"({compiler.path}) cannot build a library: {first}")
    if _AVAILABLE[ident] is not None:
        raise CompilerError(_AVAILABLE[ident])
    return compiler


def cache_dir() -> Path:
    """``$BIOSNN_CACHE_DIR/c`` (default ``~/.cache/biosnn/c``), created if missing."""
    env = os.environ.get("BIOSNN_CACHE_DIR")
    path = _CACHE_DIRS.get(env)
    if path is None or not path.is_dir():
        root = env or os.path.join(os.path.expanduser("~"), ".cache", "biosnn")
        path = Path(root) / "c"
        path.mkdir(parents=True, exist_ok=True)
        _CACHE_DIRS[env] = path
    return path


def _sha(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _atomic_write(path: Path, data: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def library_path(source: str, compiler: Compiler) -> Path:
    """Where the library compiled from ``source`` lives in the cache."""
    return cache_dir() / f"{_sha(source, compiler.identity, ' '.join(flags(compiler)))}.so"


def build(source: str, compiler: Compiler | None = None) -> Path:
    """Compile ``source`` into the cache (if not there yet) and return the library path.

    Parameters
    ----------
    source : str
        A C99 translation unit.
    compiler : Compiler, optional
        Default: :func:`find_compiler`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    CompilerError
        No compiler, or the compiler failed (the message includes its output).
    """
    compiler = compiler or find_compiler()
    if compiler is None:
        raise CompilerError("no C compiler found (set CC or install gcc/clang).")
    lib = library_path(source, compiler)
    if lib.exists():
        return lib
    src = lib.with_suffix(".c")
    _atomic_write(src, source)
    fd, tmp = tempfile.mkstemp(dir=lib.parent, prefix=".tmp-", suffix=".so")
    os.close(fd)
    try:
        units = split_units(source)
        if len(units) == 1 and units[0][1] is None:      # no marker: one command
            _run(compiler, [*flags(compiler), "-o", tmp, str(src), *LIBS])
        else:
            _build_units(compiler, units, tmp)
    except BaseException:
        _unlink(tmp)
        raise
    os.replace(tmp, lib)
    return lib


#: ``/* biosnn-unit NAME -On [OPTION ...] */``: an -O level and options of
#: :data:`UNIT_OPTIONS` only (no paths, no -D/-I, no plugins or profiles), so a marker
#: cannot make the compiler read or write files.
UNIT_OPTIONS = ("-ffp-contract=fast", "-ffp-contract=on", "-ffp-contract=off")
_UNIT_RE = re.compile(
    r"^/\* biosnn-unit ([A-Za-z_]\w*) (-O[0-3s](?: (?:"
    + "|".join(re.escape(o) for o in UNIT_OPTIONS) + r"))*) \*/$", re.M)


def split_units(source: str) -> list:
    """The compilation units of ``source``: ``[(name, opt, text), ...]``.

    A source without unit markers (``/* biosnn-unit NAME -On */`` on a line of its own) is
    one unit ``("main", None, source)``.  Otherwise the text before the first marker is
    common to all units and each unit is that common part plus the text up to the next
    marker; ``opt`` is the marker's options: its ``-O`` level replaces the one of
    :data:`FLAGS` for that unit, and the options after it (from :data:`UNIT_OPTIONS`,
    such as ``-ffp-contract=fast``) are added to that unit's command.

    Examples
    --------
    >>> [(n, o, t) for n, o, t in split_units("int c;\\n/* biosnn-unit a -O1 */\\nint a;\\n")]
    [('a', '-O1', 'int c;\\n\\nint a;\\n')]
    """
    pieces = _UNIT_RE.split(source)
    if len(pieces) == 1:
        return [("main", None, source)]
    common = pieces[0]
    return [(pieces[k], pieces[k + 1], common + pieces[k + 2])
            for k in range(1, len(pieces), 3)]


def _run(compiler: Compiler, args: list) -> None:
    """Run the compiler once; CompilerError with its output if it fails."""
    cmd = [*compiler.argv, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise CompilerError(f"could not run the C compiler {compiler.argv[0]!r}: {exc}")
    if proc.returncode != 0:
        raise CompilerError(
            f"C compilation failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")


def unit_command(compiler: Compiler, opt: str | None, c_file, obj) -> list:
    """The command that compiles one unit to an object: :func:`flags` without
    ``-shared``, the ``-O`` level of ``opt`` (None: unchanged) and its other options
    (after the flags, so they override them), ``-c``."""
    level, *extra = opt.split() if opt else (None,)
    args = [(level if level and f.startswith("-O") else f) for f in flags(compiler)
            if f != "-shared"]
    return [*compiler.argv, *args, *extra, "-c", "-o", str(obj), str(c_file)]


def _build_units(compiler: Compiler, units: list, out: str) -> None:
    """Compile the units to objects in parallel (one compiler process each), link ``out``.

    Each unit gets the flags of :func:`flags` without ``-shared``, its own ``-O`` level
    and ``-c``; the objects are linked with the full flags into one shared library.
    """
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".tmp-units-") as tmp:
        procs, objs = [], []
        try:
            for name, opt, text in units:
                c_file, obj = Path(tmp) / f"{name}.c", Path(tmp) / f"{name}.o"
                c_file.write_text(text)
                cmd = unit_command(compiler, opt, c_file, obj)
                procs.append((cmd, subprocess.Popen(
                    cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
                objs.append(str(obj))
        except OSError as exc:
            for _, proc in procs:
                proc.kill()
                proc.wait()
            raise CompilerError(
                f"could not run the C compiler {compiler.argv[0]!r}: {exc}") from None
        errors = []
        for cmd, proc in procs:
            _, err = proc.communicate()
            if proc.returncode != 0:
                errors.append(f"C compilation failed ({' '.join(cmd)}):\n{err.strip()}")
        if errors:
            raise CompilerError("\n".join(errors))
        _run(compiler, [*flags(compiler), "-o", out, *objs, *LIBS])


def load_library(path) -> ctypes.CDLL:
    """dlopen a library once per process (later calls return the same handle)."""
    path = str(path)
    with _LOCK:
        lib = _LOADED.get(path)
        if lib is None:
            lib = ctypes.CDLL(path)
            _LOADED[path] = lib
        return lib


def alias_key(key: str, compiler: Compiler) -> str:
    """The warm-start key: caller's key (model, family, generator) + compiler + flags."""
    return _sha(key, compiler.identity, " ".join(flags(compiler)))


def lookup_alias(key: str, compiler: Compiler) -> Path | None:
    """The cached library for a warm-start key, or None (no printing, no compiling)."""
    alias = cache_dir() / f"alias-{alias_key(key, compiler)}.txt"
    try:
        name = alias.read_text().strip()
    except OSError:
        return None
    lib = cache_dir() / f"{name}.so"
    return lib if name and lib.exists() else None


def write_alias(key: str, compiler: Compiler, lib: Path) -> None:
    """Record that the warm-start ``key`` maps to library ``lib`` (atomic)."""
    alias = cache_dir() / f"alias-{alias_key(key, compiler)}.txt"
    _atomic_write(alias, Path(lib).stem)


_PROBE = "#include <math.h>\ndouble bs_probe(double x) { return exp(x); }\n"


def compiler_available() -> bool:
    """True if :func:`require_compiler` succeeds (checked once per compiler and process).

    Never warns: choosing NumPy instead, and saying so once, is the business of
    :mod:`biosnn.codegen.backend`.
    """
    try:
        require_compiler()
    except CompilerError:
        return False
    return True


_OPENMP_PROBE = """#include <omp.h>
int bs_probe(int n) {
    int s = 0;
#pragma omp parallel for reduction(+:s)
    for (int i = 0; i < n; ++i) s += i;
    return s + omp_get_max_threads();
}
"""


def openmp_available(compiler: Compiler) -> bool:
    """True if ``compiler`` builds and links an OpenMP library (libgomp present).

    Asked once per compiler identity; the answer is cached in memory and on disk
    (``openmp-<hash>.txt`` in the cache directory), so warm starts do not compile.
    """
    ident = compiler.identity
    if ident in _OPENMP:
        return _OPENMP[ident]
    marker = cache_dir() / f"openmp-{_sha(ident, ' '.join(OPENMP_FLAGS))[:32]}.txt"
    try:
        ok = marker.read_text().strip() == "1"
    except OSError:
        ok = _probe_openmp(compiler)
        _atomic_write(marker, "1" if ok else "0")
    _OPENMP[ident] = ok
    return ok


def _probe_openmp(compiler: Compiler) -> bool:
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".omp-") as tmp:
        src, lib = Path(tmp) / "probe.c", Path(tmp) / "probe.so"
        src.write_text(_OPENMP_PROBE)
        cmd = [*compiler.argv, "-O1", "-fPIC", "-shared", *OPENMP_FLAGS, "-o", str(lib),
               str(src)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                return False
            ctypes.CDLL(str(lib))          # libgomp must also load
            return True
        except OSError:
            return False


def flags(compiler: Compiler) -> tuple:
    """Compiler flags for ``compiler``: :data:`FLAGS` plus the OpenMP flags it supports."""
    return tuple(FLAGS) + (OPENMP_FLAGS if openmp_available(compiler) else NO_OPENMP_FLAGS)
