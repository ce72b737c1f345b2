"""Check where results will be written before computing them.

A run that ends with "cannot write" after minutes of work (or with a traceback for a
figure format matplotlib does not know) wastes the run.  The ``biosnn`` command and
:func:`biosnn.demo.run_demo` call these checks first; each raises a
:class:`~biosnn.errors.BiosnnError` with one line naming the option and the path.

Rules (documented in docs/cli.md, "Output files"):

* a file option (``--out FILE.json``, ``--plot FILE.png``) needs an extension of its
  format, a parent directory that exists and is writable, and must not name a directory;
  an existing file is overwritten (as ``cp`` and matplotlib do);
* an output directory (``demo --out DIR``) is created if missing, but its parent must
  exist (a typo must not create a tree of directories); an existing file there is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from biosnn.errors import BiosnnError

__all__ = ["check_output_file", "check_output_dir", "figure_formats"]


def figure_formats() -> dict:
    """Extensions matplotlib can write (``{"png": "Portable Network Graphics", ...}``)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return FigureCanvasBase.get_supported_filetypes()


def _writable_parent(path: Path, what: str) -> None:
    parent = path.parent
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        raise BiosnnError(f"{what} {str(path)!r}: the directory {str(parent)!r} {why}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BiosnnError(f"{what} {str(path)!r}: the directory {str(parent)!r} is not writable")


def check_output_file(path, what: str, formats) -> Path:
    """Check that ``path`` can be written as one of ``formats`` (extensions, no dot).

    Parameters
    ----------
    path : str or Path
        The file to be written (overwritten if it exists).
    what : str
        The option or argument, for the message (``"--plot"``).
    formats : collection of str
        Accepted extensions, lower case (``{"json"}``, :func:`figure_formats`).

    Returns
    -------
    Path
    """
    p = Path(path)
    if not str(path).strip():
        raise BiosnnError(f"{what} needs a file name")
    ext = p.suffix[1:].lower()
    if ext not in formats:
        known = ", ".join(sorted(formats))
        given = f"'.{ext}'" if ext else "no extension"
        raise BiosnnError(
            f"{what} {str(path)!r}: {given} is not a format biosnn can "
            f"write here; use one of: {known}"
        )
    if p.is_dir():
        raise BiosnnError(f"{what} {str(path)!r} is a directory; give a file name")
    _writable_parent(p, what)
    if p.exists() and not os.access(p, os.W_OK):
        raise BiosnnError(f"{what} {str(path)!r} exists and is not writable")
    return p


def check_output_dir(path, what: str) -> Path:
    """Check that ``path`` is (or can be made) a writable directory; create it.

    Returns
    -------
    Path
    """
    p = Path(path)
    if not str(path).strip():
        raise BiosnnError(f"{what} needs a directory name")
    if p.exists():
        if not p.is_dir():
            raise BiosnnError(f"{what} {str(path)!r} exists and is not a directory")
        if not os.access(p, os.W_OK | os.X_OK):
            raise BiosnnError(f"{what} {str(path)!r} is not writable")
        return p
    _writable_parent(p, what)
    try:
        p.mkdir()
    except OSError as exc:
        raise BiosnnError(
            f"{what} {str(path)!r}: cannot create it ({exc.strerror or exc})"
        ) from None
    return p
