"""Refuse an allocation that cannot fit before making it (one clear error, no MemoryError).

A run whose arrays cannot fit used to end, after minutes, in a ``MemoryError`` traceback
or the kernel's OOM killer.  Every place that sizes a large allocation from user input
(``simulate``: instances and recordings; ``fi_curve``: parameter values; networks:
populations, synapses, delay rings, monitors) first estimates the bytes and calls
:func:`check_memory`, which raises a :class:`~biosnn.errors.SimulationError` naming the
buffer, the bytes it needs and the memory available now.

The available memory is Linux's ``MemAvailable`` (``/proc/meminfo``: free memory plus
what the page cache can give back); elsewhere ``os.sysconf`` free pages.  A request above
80 % of it is refused: the rest of the process, NumPy temporaries and other programs need
room too.  When the available memory cannot be read, nothing is refused.

Examples
--------
>>> check_memory(8 * 1000, "a small buffer", "")       # fits: returns None
>>> check_memory(10**18, "the recording", "record fewer variables")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
biosnn.errors.SimulationError: the recording would need 888 PiB ...
"""

from __future__ import annotations

import os

__all__ = ["available_bytes", "check_memory", "format_bytes"]

#: Fraction of the available memory one request may take.
FRACTION = 0.8


def available_bytes() -> int | None:
    """Memory available to this process now, in bytes (None when it cannot be read)."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(nbytes: float) -> str:
    """``1.5 GiB``, ``888 PiB``: a byte count for people."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g} PiB"  # pragma: no cover


def check_memory(nbytes, what: str, advice: str = "") -> None:
    """Raise SimulationError if ``nbytes`` cannot fit in the memory available now.

    Parameters
    ----------
    nbytes : int or float
        Estimated size of the allocation (may be astronomically large: it is only
        compared, never allocated).
    what : str
        What would be allocated (``"the recording of 13 variables"``).
    advice : str
        What to do instead (appended after a semicolon).
    """
    avail = available_bytes()
    if avail is None or not nbytes > FRACTION * avail:
        return
    from biosnn.errors import SimulationError

    tail = f"; {advice}" if advice else ""
    raise SimulationError(
        f"{what} would need {format_bytes(nbytes)} but only "
        f"{format_bytes(avail)} of memory are available{tail}"
    )
