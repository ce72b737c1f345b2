"""Compiler discovery, compilation, the on-disk cache and loading of C kernels.

Cache design
------------
Everything lives in ``$BIOSNN_CACHE_DIR`` (default ``~/.cache/biosnn``), in ``c/``, and
follows the trust rules of :mod:`biosnn.cache` (private 0700 directory, atomic fsync-ed
writes, code content-addressed and hash-checked before use):

* ``<D>.so`` - a compiled library, named by the sha256 ``D`` of its own bytes, and
  ``<S>.c`` the sources, named by their own sha256.  Before a library is loaded its bytes are
  hashed and compared with ``D`` (once per process): a truncated, zero-length or altered
  file is removed and compiled again, never handed to ``dlopen`` (where it would raise
  SIGBUS or SIGILL).  Only such files, directly in ``c/``, are ever loaded.
* ``<K>.lib`` - a ref holding ``D``, where ``K = sha256(source + compiler identity +
  flags + package key)`` (:func:`library_key`).  Same source, same compiler, same flags,
  same biosnn: same library, in any process, after any kernel restart.
* ``alias-<A>.txt`` - a ref holding ``D``; ``A`` is a key the caller computes *without*
  printing the source (model key + driver family + package key + compiler identity +
  flags), so a warm start finds the library before any sympy work; ``alias-<A>.src``
  names the source of that kernel.  A ref holds exactly 64 hex digits: it cannot name a
  file outside ``c/``.

Files are written to a unique temporary name in the same directory, fsync-ed and moved
into place with :func:`os.replace` (atomic on POSIX): two processes compiling the same
kernel both produce a complete file and the last rename wins; a reader never sees a
partial file.  The compiler runs in a private temporary directory of ``c/`` on relative
file names (the library's bytes do not depend on that directory); temporaries left by a
killed compile are removed before the next compile (:func:`biosnn.cache.clean_stale`).

The compiler identity is the command, the resolved path of the executable plus its size
and modification time (``os.stat``) - and the same for the compiler a wrapper runs
(``ccache gcc``) - so a warm start never runs the compiler (``cc --version`` would cost a
process start on every warm run; upgrading or switching the compiler changes the binary
it resolves to, and so the identity).

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
source (markers included), and ``<S>.c`` holds the whole source.  The C backend uses
this for its fixed-step family (kernels at ``-O2 -ffp-contract=fast`` with an
x86-64-v3 (AVX2 + FMA) clone, driver at -O1), so the first compile takes the time of
the larger unit.

OpenMP: ``-fopenmp`` is added when the compiler can build and link an OpenMP probe
(libgomp present), else ``-fopenmp-simd`` (``omp simd`` loops only, no threads).  The
probe runs once per compiler and its answer is cached on disk
(``openmp-<compiler hash>.json``, a checked record), so a warm start never runs the
compiler; the flags are part of every cache key (:func:`flags`).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import threading
from pathlib import Path

from biosnn.errors import CompilerError

__all__ = [
    "FLAGS",
    "Compiler",
    "flags",
    "openmp_available",
    "openmp_known",
    "build",
    "compile_library",
    "library_key",
    "split_units",
    "cache_dir",
    "compiler_available",
    "find_compiler",
    "require_compiler",
    "load_library",
    "lookup_alias",
    "write_alias",
    "alias_source",
]

FLAGS = ("-O2", "-std=c99", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math")
#: Added to FLAGS when the compiler supports OpenMP (threads + simd), else the fallback.
OPENMP_FLAGS = ("-fopenmp",)
NO_OPENMP_FLAGS = ("-fopenmp-simd",)
LIBS = ("-lm",)

_LOADED: dict = {}  # path -> ctypes.CDLL (one dlopen per file and process)
_LOCK = threading.Lock()
_AVAILABLE: dict = {}  # compiler identity -> None (works) or why it does not
_OPENMP: dict = {}  # compiler identity -> bool
_OPENMP_LOCK = threading.Lock()  # one OpenMP probe at a time
_FOUND: dict = {}  # ($CC, $PATH) -> Compiler or None
_VERIFIED: set = set()  # library paths whose bytes were hashed in this process


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
        for word in self.argv[1:]:  # a wrapper (ccache gcc): the compiler it runs
            inner = shutil.which(word) if not word.startswith("-") else None
            if inner:
                st = os.stat(os.path.realpath(inner))
                self.identity += f"|{os.path.realpath(inner)}|{st.st_size}|{st.st_mtime_ns}"

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
        return (
            f"no C compiler: $CC is {env!r}, which is not a program on PATH (set CC "
            "to a working compiler such as gcc or clang)"
        )
    return "no C compiler: none of cc, gcc, clang is on PATH (install gcc or clang, or set CC)"


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
            _AVAILABLE[ident] = (
                f"the C compiler {' '.join(compiler.argv)!r} "
                f"({compiler.path}) cannot build a library: {first}"
            )
    if _AVAILABLE[ident] is not None:
        raise CompilerError(_AVAILABLE[ident])
    return compiler


def cache_dir() -> Path:
    """``$BIOSNN_CACHE_DIR/c`` (default ``~/.cache/biosnn/c``), created 0700 and checked
    (:func:`biosnn.cache.directory`).
    """
    from biosnn import cache

    return cache.directory("c")


def _sha(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _atomic_write(path: Path, data: str) -> None:
    from biosnn import cache

    cache.write_atomic(path, data.encode())


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def library_key(source: str, compiler: Compiler) -> str:
    """The key of the library compiled from ``source``: sha256 of the source, the compiler
    identity, the flags and :func:`biosnn.cache.package_key`.
    """
    from biosnn import cache

    return _sha(source, compiler.identity, " ".join(flags(compiler)), cache.package_key())


def build(source: str, compiler: Compiler | None = None) -> Path:
    """Compile ``source`` into the cache (if not there yet) and return the library path.

    The library is stored under the sha256 of its bytes (``<D>.so``; the source as a blob
    ``<S>.c``) and found through the ref ``<library_key>.lib``; a cached library is
    returned only after its bytes have been hashed and found equal to its name (a
    truncated, zero-length or altered file is removed and compiled again).

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
    from biosnn import cache

    compiler = compiler or find_compiler()
    if compiler is None:
        raise CompilerError("no C compiler found (set CC or install gcc/clang).")
    folder = cache_dir()
    ref = folder / f"{library_key(source, compiler)}.lib"
    lib = _verified(folder, cache.read_ref(ref))
    if lib is not None:
        return lib
    units = split_units(source)
    if len(units) == 1 and units[0][1] is None:  # no marker: one command
        steps = [[*flags(compiler), "-o", "lib.so", "main.c", *LIBS]]
        units = [("main", None, source)]
    else:
        steps = None
    lib = compile_library(compiler, source, units, steps)
    cache.write_ref(ref, lib.stem)
    return lib


def compile_library(compiler: Compiler, source: str, units: list, steps=None) -> Path:
    """Compile ``units`` (``[(name, opt, text), ...]``) in a private temporary directory
    of the cache and store the library as a blob: ``<sha256 of its bytes>.so`` (and
    ``source`` as the blob ``<sha256 of source>.c``).  ``steps`` (a list of compiler argument lists, run in
    that directory on ``<name>.c`` files, output ``lib.so``) replaces the default: each
    unit to an object by :func:`unit_command`, in parallel, then one link.
    """
    from biosnn import cache

    folder = cache_dir()
    cache.clean_stale(folder)
    with cache.temp_dir(folder) as tmp:
        for name, _, text in units:
            (Path(tmp) / f"{name}.c").write_text(text)
        if steps is None:
            _build_units(compiler, units, tmp)
        else:
            for args in steps:
                _run(compiler, args, cwd=tmp)
        with open(Path(tmp) / "lib.so", "rb") as fh:
            data = fh.read()
        digest = hashlib.sha256(data).hexdigest()
        lib = folder / f"{digest}.so"
        if not lib.exists():
            cache.write_atomic(lib, data)
        cache.put_blob(folder, source.encode(), ".c")
    _VERIFIED.add(str(lib))
    return lib


def _verified(folder: Path, digest: str | None) -> Path | None:
    """``folder/<digest>.so`` if it exists and hashes to its name (checked once per
    process), else None (a corrupt file is removed).
    """
    from biosnn import cache

    if digest is None:
        return None
    lib = folder / f"{digest}.so"
    if str(lib) in _VERIFIED and lib.exists():  # the cache may be deleted meanwhile
        return lib
    if not cache.verified_blob(lib):
        return None
    _VERIFIED.add(str(lib))
    return lib


#: ``/* biosnn-unit NAME -On [OPTION ...] */``: an -O level and options of
#: :data:`UNIT_OPTIONS` only (no paths, no -D/-I, no plugins or profiles), so a marker
#: cannot make the compiler read or write files.
UNIT_OPTIONS = ("-ffp-contract=fast", "-ffp-contract=on", "-ffp-contract=off")
_UNIT_RE = re.compile(
    r"^/\* biosnn-unit ([A-Za-z_]\w*) (-O[0-3s](?: (?:"
    + "|".join(re.escape(o) for o in UNIT_OPTIONS)
    + r"))*) \*/$",
    re.M,
)


def split_units(source: str) -> list:
    r"""The compilation units of ``source``: ``[(name, opt, text), ...]``.

    A source without unit markers (``/* biosnn-unit NAME -On */`` on a line of its own) is
    one unit ``("main", None, source)``.  Otherwise the text before the first marker is
    common to all units and each unit is that common part plus the text up to the next
    marker; ``opt`` is the marker's options: its ``-O`` level replaces the one of
    :data:`FLAGS` for that unit, and the options after it (from :data:`UNIT_OPTIONS`,
    such as ``-ffp-contract=fast``) are added to that unit's command.

    Examples
    --------
    >>> [(n, o, t) for n, o, t in split_units("int c;\n/* biosnn-unit a -O1 */\nint a;\n")]
    [('a', '-O1', 'int c;\n\nint a;\n')]
    """
    pieces = _UNIT_RE.split(source)
    if len(pieces) == 1:
        return [("main", None, source)]
    common = pieces[0]
    return [(pieces[k], pieces[k + 1], common + pieces[k + 2]) for k in range(1, len(pieces), 3)]


def _run(compiler: Compiler, args: list, cwd=None) -> None:
    """Run the compiler once (in ``cwd``); CompilerError with its output if it fails."""
    cmd = [*compiler.argv, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd)
    except OSError as exc:
        raise CompilerError(f"could not run the C compiler {compiler.argv[0]!r}: {exc}")
    if proc.returncode != 0:
        raise CompilerError(f"C compilation failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")


def unit_command(compiler: Compiler, opt: str | None, c_file, obj) -> list:
    """The command that compiles one unit to an object: :func:`flags` without
    ``-shared``, the ``-O`` level of ``opt`` (None: unchanged) and its other options
    (after the flags, so they override them), ``-c``.
    """
    level, *extra = opt.split() if opt else (None,)
    args = [
        (level if level and f.startswith("-O") else f) for f in flags(compiler) if f != "-shared"
    ]
    return [*compiler.argv, *args, *extra, "-c", "-o", str(obj), str(c_file)]


def _build_units(compiler: Compiler, units: list, tmp) -> None:
    """Compile the units (``<name>.c`` in ``tmp``) to objects in parallel (one compiler
    process each) and link ``tmp/lib.so``.

    Each unit gets the flags of :func:`flags` without ``-shared``, its own ``-O`` level
    and ``-c``; the objects are linked with the full flags into one shared library.  The
    compiler runs in ``tmp`` on relative names, so the library's bytes do not depend on
    the temporary directory's name.
    """
    procs, objs = [], []
    try:
        for name, opt, _ in units:
            cmd = unit_command(compiler, opt, f"{name}.c", f"{name}.o")
            procs.append(
                (
                    cmd,
                    subprocess.Popen(
                        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp
                    ),
                )
            )
            objs.append(f"{name}.o")
    except OSError as exc:
        for _, proc in procs:
            proc.kill()
            proc.wait()
        raise CompilerError(f"could not run the C compiler {compiler.argv[0]!r}: {exc}") from None
    errors = []
    for cmd, proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            errors.append(f"C compilation failed ({' '.join(cmd)}):\n{err.strip()}")
    if errors:
        raise CompilerError("\n".join(errors))
    _run(compiler, [*flags(compiler), "-o", "lib.so", *objs, *LIBS], cwd=tmp)


def load_library(path) -> ctypes.CDLL:
    """Dlopen a library of the cache once per process (later calls return the same handle).

    Only a file ``<digest>.so`` directly inside :func:`cache_dir` whose bytes hash to
    ``digest`` is loaded (verified once per process; :func:`build` and
    :func:`lookup_alias` have already verified what they return).

    Raises
    ------
    CacheError
        ``path`` is not a library of the cache, or its content does not match its name
        (the file is removed: building again recompiles it).
    """
    from biosnn import cache
    from biosnn.errors import CacheError

    path = Path(path)
    with _LOCK:
        lib = _LOADED.get(str(path))
        if lib is not None:
            return lib
        folder = cache_dir()
        if (
            path.suffix != ".so"
            or not cache.is_digest(path.stem)
            or os.path.realpath(path.parent) != os.path.realpath(folder)
        ):
            raise CacheError(
                f"refusing to load {path}: biosnn loads only libraries of "
                f"its cache directory {folder}, named by their hash."
            )
        if _verified(folder, path.stem) is None:
            raise CacheError(
                f"the cached library {path} is missing or does not match its "
                "hash (removed; it is compiled again on the next build)."
            )
        lib = ctypes.CDLL(str(folder / path.name))
        _LOADED[str(path)] = lib
        return lib


def alias_key(key: str, compiler: Compiler) -> str:
    """The warm-start key: caller's key (model, family, generator) + compiler + flags."""
    return _sha(key, compiler.identity, " ".join(flags(compiler)))


def lookup_alias(key: str, compiler: Compiler) -> Path | None:
    """The cached library for a warm-start key, or None (no printing, no compiling).

    The alias file must hold the digest of a library in the cache, and the library's
    bytes must hash to it; anything else (a path, garbage, a truncated library) is a
    miss.
    """
    from biosnn import cache

    folder = cache_dir()
    return _verified(folder, cache.read_ref(folder / f"alias-{alias_key(key, compiler)}.txt"))


def write_alias(key: str, compiler: Compiler, lib: Path, source: str | None = None) -> None:
    """Record that the warm-start ``key`` maps to library ``lib`` (atomic), and to the
    source it was compiled from (a blob ``<sha256>.c`` named by ``alias-<A>.src``: two
    sources that compile to the same bytes share a library, not a source).
    """
    from biosnn import cache

    folder = cache_dir()
    name = f"alias-{alias_key(key, compiler)}"
    if source is not None:
        cache.write_ref(folder / f"{name}.src", cache.put_blob(folder, source.encode(), ".c"))
    cache.write_ref(folder / f"{name}.txt", Path(lib).stem)


def alias_source(key: str, compiler: Compiler) -> str | None:
    """The C source recorded for a warm-start key (hash-checked), or None."""
    from biosnn import cache

    folder = cache_dir()
    digest = cache.read_ref(folder / f"alias-{alias_key(key, compiler)}.src")
    data = cache.read_blob(folder, digest, ".c") if digest else None
    try:
        return None if data is None else data.decode()
    except UnicodeDecodeError:
        return None


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
    (``openmp-<hash>.json`` in the cache directory, a checked record keyed by the compiler
    identity and the package key), so warm starts do not compile.  The probe runs under
    a lock: a second thread asking meanwhile (the network engine probes in the
    background while a network is lowered) waits for its answer instead of probing too.
    """
    known = openmp_known(compiler)
    if known is not None:
        return known
    from biosnn import cache

    with _OPENMP_LOCK:
        known = openmp_known(compiler)
        if known is None:
            known = _probe_openmp(compiler)
            cache.write_record(_openmp_marker(compiler), known)
            _OPENMP[compiler.identity] = known
    return known


def openmp_known(compiler: Compiler) -> bool | None:
    """The answer of :func:`openmp_available` if it is known (in memory, or in the
    cache's checked record) without running the compiler; None when the probe has not
    run yet with this compiler and package key (an empty cache).
    """
    ident = compiler.identity
    if ident in _OPENMP:
        return _OPENMP[ident]
    from biosnn import cache

    ok = cache.read_record(_openmp_marker(compiler))
    if not isinstance(ok, bool):
        return None
    _OPENMP[ident] = ok
    return ok


def _openmp_marker(compiler: Compiler) -> Path:
    from biosnn import cache

    key = _sha(compiler.identity, " ".join(OPENMP_FLAGS), cache.package_key())
    return cache_dir() / f"openmp-{key[:32]}.json"


def _probe_openmp(compiler: Compiler) -> bool:
    from biosnn import cache

    with cache.temp_dir(cache_dir()) as tmp:
        src, lib = Path(tmp) / "probe.c", Path(tmp) / "probe.so"
        src.write_text(_OPENMP_PROBE)
        cmd = [*compiler.argv, "-O1", "-fPIC", "-shared", *OPENMP_FLAGS, "-o", str(lib), str(src)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                return False
            ctypes.CDLL(str(lib))  # libgomp must also load
            return True
        except OSError:
            return False


def flags(compiler: Compiler) -> tuple:
    """Compiler flags for ``compiler``: :data:`FLAGS` plus the OpenMP flags it supports."""
    return tuple(FLAGS) + (OPENMP_FLAGS if openmp_available(compiler) else NO_OPENMP_FLAGS)
