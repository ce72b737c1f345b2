"""The cache directory: where it is, who may write it, and how files enter and leave it.

Every cache user of biosnn (compiled C kernels in :mod:`biosnn.codegen.c_build`, the
network engine, model manifests and layouts in :mod:`biosnn.equations.manifest`, analysis
entries, the unit table in :mod:`biosnn.units`) goes through this module.  The rules
(docs/architecture.md, "The cache: trust rules and key"):

* **Private directories.**  ``$BIOSNN_CACHE_DIR`` (default ``~/.cache/biosnn``) and its
  subdirectories are created with mode 0700.  A directory that is not owned by the user
  running biosnn, or that group or others may write, is refused with a
  :class:`~biosnn.errors.CacheError` naming the path and the fix; an own directory that
  others may read (made by an older biosnn, 0755) is narrowed to 0700.
* **Atomic, durable writes.**  A file is written to ``.tmp-<pid>-*`` in its directory,
  flushed and ``fsync``-ed, then renamed over its name (:func:`write_atomic`): a reader
  sees the old file or the whole new one, also after a crash.  Temporary files left by a
  killed process are removed by :func:`clean_stale` (cold paths only).
* **Code is content-addressed.**  Anything executable (a shared library, generated
  Python source, the network engine's snippets) is a *blob* stored as
  ``<sha256 of its bytes><suffix>`` (:func:`put_blob`) and is read back only through
  :func:`read_blob` / :func:`verified_blob`, which hash the bytes and compare them with
  the name; a mismatch deletes the file and reports a miss, so the caller rebuilds it.
  A *ref* (:func:`write_ref` / :func:`read_ref`) maps a key to a blob: it holds exactly
  64 hex digits, so it can only name a file inside its own directory.
* **Data is self-checked.**  JSON *records* (:func:`write_record` / :func:`read_record`)
  start with a line carrying the sha256 of the rest; a truncated, garbled or edited body
  is a miss.
* **One key.**  :func:`package_key` is the sha256 of every ``.py``, ``.c``, ``.h`` and
  ``.json`` (the shipped unit table) file of the installed biosnn package (relative path
  and bytes) and ``biosnn.__version__``,
  computed once per process (and remembered with the files' stat signature).  Every
  cached artifact's key includes it (plus, for compiled code, the compiler identity and
  flags), so any change to biosnn's code invalidates every entry - there is no
  hand-kept list of "files that matter".

What this promises: files planted by *other* users cannot reach biosnn (the directory is
private and checked); corruption (a truncated or flipped file, a killed writer, a full
disk) is detected before use and rebuilt, never executed or loaded; a cache written by
another version of biosnn is never used.  What it cannot promise: protection against
code running as your own user - it can edit the cache, and biosnn itself, anyway.

Examples
--------
>>> from biosnn import cache
>>> len(cache.package_key())
64
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

from biosnn.errors import CacheError

__all__ = [
    "ENV",
    "root",
    "directory",
    "package_key",
    "write_atomic",
    "put_blob",
    "read_blob",
    "verified_blob",
    "write_ref",
    "read_ref",
    "write_record",
    "read_record",
    "clean_stale",
    "is_digest",
]

#: The environment variable naming the cache directory.
ENV = "BIOSNN_CACHE_DIR"
#: Temporary files older than this (seconds) are stale whatever their process.
STALE_AGE = 3600.0
#: Temporary files of a process that no longer exists on this machine are stale after
#: this (seconds; the margin is for a cache shared over NFS, where the pid may be another
#: machine's: a compile there finishes well within it).
DEAD_AGE = 120.0
#: Suffixes of the package files that make up :func:`package_key` (``.json``: the shipped
#: unit table, :mod:`biosnn.units`).
KEY_SUFFIXES = (".py", ".c", ".h", ".json")

_DIGEST = re.compile(r"[0-9a-f]{64}\Z")
_RECORD = b"biosnn-record sha256="
_CHECKED: dict = {}  # str(path) -> Path, directories checked in this process
_CLEANED: set = set()  # directories cleaned of stale temporaries in this process
_PACKAGE_KEY: list = []


def is_digest(text) -> bool:
    """True if ``text`` is a sha256 hex digest (64 lowercase hex digits)."""
    return isinstance(text, str) and _DIGEST.match(text) is not None


# -- directories ---------------------------------------------------------------------------
def root() -> Path:
    """``$BIOSNN_CACHE_DIR`` (default ``~/.cache/biosnn``), created 0700 and checked.

    Raises
    ------
    CacheError
        The directory belongs to another user, is writable by group or others, or is
        not a directory.
    OSError
        It cannot be created (a read-only file system, no permission).
    """
    env = os.environ.get(ENV)
    path = Path(env) if env else Path(os.path.expanduser("~")) / ".cache" / "biosnn"
    return _ensure(path)


def directory(*parts: str) -> Path:
    """The subdirectory ``parts`` of :func:`root`, created 0700 and checked."""
    return _ensure(root().joinpath(*parts))


def _ensure(path: Path) -> Path:
    key = str(path)
    done = _CHECKED.get(key)
    if done is not None and done.is_dir():
        return done
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except FileExistsError:
        pass  # not a directory: _check says so
    except OSError as exc:
        # not unsafe, only unusable: callers that can run without a cache (manifests,
        # the unit table) skip it; compiling C needs it and reports this error
        raise OSError(
            exc.errno,
            f"cannot create the cache directory {path}: "
            f"{exc.strerror}; set {ENV} to a directory you can write",
        ) from None
    _check(path)
    _CHECKED[key] = path
    return path


def _check(path: Path) -> None:
    """Refuse a cache directory that others could write into (see the module docstring)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise CacheError(f"cannot use the cache directory {path}: {exc.strerror}.") from None
    if not stat.S_ISDIR(st.st_mode):
        raise CacheError(
            f"the cache path {path} is not a directory; remove it or set "
            f"{ENV} to another directory."
        )
    uid = os.geteuid()
    if st.st_uid != uid:
        raise CacheError(
            f"the cache directory {path} belongs to another user (uid {st.st_uid}, you are "
            f"{uid}); biosnn does not load code from it. Remove it, or set {ENV} to a "
            "directory of your own."
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise CacheError(
            f"the cache directory {path} is writable by group or others (mode "
            f"{mode:04o}), so another user could plant code in it; run `chmod 700 "
            f"{path}` or set {ENV} to a private directory."
        )
    if mode & 0o077:
        try:
            os.chmod(path, 0o700)  # our own 0755 directory (older biosnn)
        except OSError:
            pass


# -- the key -------------------------------------------------------------------------------
def package_key() -> str:
    """sha256 of the installed biosnn package: every ``.py``, ``.c``, ``.h`` and ``.json``
    (the shipped unit table) file under it (relative path, size and bytes, in sorted
    order) and ``biosnn.__version__``.

    Computed once per process.  Hashing the ~60 files (1.1 MB) costs 1.7 ms when they are
    in the OS page cache but 8-50 ms when they are not (a Python process reads the
    bytecode, not the ``.py`` files), so the key is remembered in the cache directory
    with the files' stat signature (:func:`_package_key`): a process whose files have
    the same paths, sizes, modification and change times and inodes reads the key
    instead of the bytes (docs/benchmarks.md, "Cache key and hash checks").
    """
    if not _PACKAGE_KEY:
        from biosnn import __version__

        _PACKAGE_KEY.append(_package_key(Path(__file__).resolve().parent, __version__))
    return _PACKAGE_KEY[0]


#: A remembered package key is trusted only if it was written this long (ns) after the
#: newest change of any file: an edit within the timestamp granularity of the file
#: system (1-2 s on some) could otherwise keep the stat signature ("racy git").
RACY_NS = 2_000_000_000


def _package_key(package: Path, version: str) -> str:
    """The package key, from the memo ``package-<h>.json`` of the cache root when the
    stat signature of the files matches it and is not racy, else by hashing the files
    (and remembering the result).
    """
    files = _package_files(package)
    sig = hashlib.sha256(f"{version}\0{package}".encode())
    newest = 0
    for rel, full in files:
        st = os.stat(full)
        sig.update(
            f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0"
            f"{st.st_ino}\0{st.st_dev}\n".encode()
        )
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    signature = sig.hexdigest()
    try:
        memo = root() / f"package-{hashlib.sha256(str(package).encode()).hexdigest()[:16]}.json"
    except OSError:  # no cache directory: nothing to remember
        return _hash_files(files, version)
    data = read_record(memo)
    if (
        isinstance(data, dict)
        and data.get("stat") == signature
        and is_digest(data.get("key"))
        and isinstance(data.get("written_ns"), int)
        and data["written_ns"] > newest + RACY_NS
    ):
        return data["key"]
    key = _hash_files(files, version)
    try:
        write_record(memo, {"stat": signature, "key": key, "written_ns": time.time_ns()})
    except OSError:
        pass
    return key


def _package_files(package: Path) -> list:
    """``[(relative path, full path), ...]`` of the package's source files, sorted."""
    files = []
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
        for name in filenames:
            if name.endswith(KEY_SUFFIXES):
                full = os.path.join(dirpath, name)
                files.append((os.path.relpath(full, package).replace(os.sep, "/"), full))
    return sorted(files)


def _hash_files(files: list, version: str) -> str:
    h = hashlib.sha256(f"biosnn {version}\0".encode())
    for rel, full in files:
        with open(full, "rb") as fh:
            data = fh.read()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _hash_package(package: Path, version: str) -> str:
    """The package key of ``package`` computed from the bytes (no memo)."""
    return _hash_files(_package_files(package), version)


# -- writing -------------------------------------------------------------------------------
def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path``: a temporary file in the same directory, fsync, rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{os.getpid()}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def temp_path(folder: Path, suffix: str = "") -> str:
    """A new empty temporary file in ``folder`` (named so :func:`clean_stale` knows it)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".tmp-{os.getpid()}-", suffix=suffix)
    os.close(fd)
    return tmp


def temp_dir(folder: Path) -> tempfile.TemporaryDirectory:
    """A temporary directory in ``folder`` (named so :func:`clean_stale` knows it)."""
    return tempfile.TemporaryDirectory(dir=folder, prefix=f".tmp-{os.getpid()}-")


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def clean_stale(folder: Path) -> None:
    """Remove the ``.tmp-*`` files and directories in ``folder`` left by killed writers.

    A temporary is stale when it is older than :data:`STALE_AGE`, or older than
    :data:`DEAD_AGE` and the process that made it (``.tmp-<pid>-...``) no longer exists.
    Runs once per directory and process, on cold paths (before compiling or writing).
    """
    key = str(folder)
    if key in _CLEANED:
        return
    _CLEANED.add(key)
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(".tmp-"):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if age < DEAD_AGE or (age < STALE_AGE and _alive(entry.name)):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            _unlink(entry.path)


def _alive(name: str) -> bool:
    """Whether the process that made ``.tmp-<pid>-...`` still runs (True if unknown)."""
    match = re.match(r"\.tmp-(\d+)-", name)
    if not match:
        return False  # not ours (an older biosnn's): age decides
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True
    return True


# -- blobs, refs and records ---------------------------------------------------------------
def blob_path(folder: Path, digest: str, suffix: str) -> Path:
    """Where the blob ``digest`` lives in ``folder`` (ValueError if it is no digest)."""
    if not is_digest(digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return Path(folder) / f"{digest}{suffix}"


def put_blob(folder: Path, data: bytes, suffix: str) -> str:
    """Store ``data`` under its own sha256 in ``folder``; returns the digest."""
    digest = hashlib.sha256(data).hexdigest()
    path = blob_path(folder, digest, suffix)
    if not path.exists():
        write_atomic(path, data)
    return digest


def read_blob(folder: Path, digest: str, suffix: str) -> bytes | None:
    """The bytes of blob ``digest``, or None if it is missing or its content does not
    hash to its name (then the file is removed, so it is rebuilt).
    """
    if not is_digest(digest):
        return None
    path = Path(folder) / f"{digest}{suffix}"
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != digest:
        _unlink(path)
        return None
    return data


def verified_blob(path) -> bool:
    """True if the file ``path``, named ``<digest><suffix>``, hashes to its name; a file
    that does not is removed.  Used before ``dlopen``.
    """
    path = Path(path)
    digest = path.name.split(".", 1)[0]
    return read_blob(path.parent, digest, path.name[len(digest) :]) is not None


def write_ref(path, digest: str) -> None:
    """Record (atomically) that the key file ``path`` names the blob ``digest``."""
    if not is_digest(digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    write_atomic(path, digest.encode())


def read_ref(path) -> str | None:
    """The digest a ref file names, or None if it is missing or holds anything else."""
    try:
        with open(path, "rb") as fh:
            text = fh.read(200).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if is_digest(text) else None


def write_record(path, obj) -> None:
    """Store a JSON-ready object with a header line carrying the sha256 of its body."""
    import json

    body = json.dumps(obj, separators=(",", ":")).encode()
    header = _RECORD + hashlib.sha256(body).hexdigest().encode() + b"\n"
    write_atomic(path, header + body)


def read_record(path):
    """The object stored by :func:`write_record`, or None if the file is missing, has no
    header, does not match its hash or is not JSON.
    """
    import json

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    header, _, body = data.partition(b"\n")
    if (
        not header.startswith(_RECORD)
        or header[len(_RECORD) :].decode("ascii", "replace") != hashlib.sha256(body).hexdigest()
    ):
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None
