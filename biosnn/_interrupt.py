"""Ctrl-C during a compiled (C) run.

A ctypes call releases the GIL but Python runs its SIGINT handler only when the call
returns, so a long C run used to ignore Ctrl-C until it ended.  :func:`call` runs the C
function in a worker thread while the main thread waits in short joins, where
KeyboardInterrupt is delivered at once.  The main thread then sets a stop flag (an int64
the C drivers read, ``volatile``, once per step), waits for the worker to return - within
one step of the model (or of the network) - and raises KeyboardInterrupt; the partial
results are dropped.  Nothing on disk is touched: the compiled library was loaded before
the run started, so the cache stays intact.

Outside the main thread (Dask workers, a thread pool) signals are not delivered there
anyway, and the function is simply called.
"""

from __future__ import annotations

import threading

__all__ = ["call"]

#: Seconds between checks of the main thread for a pending KeyboardInterrupt.
POLL = 0.05


def call(fn, stop):
    """``fn()`` (a ctypes call that polls ``stop``), interruptible by Ctrl-C.

    Parameters
    ----------
    fn : callable
        Runs the C function and returns its result.
    stop : numpy.ndarray
        int64 array whose first element the C side reads; set to 1 on Ctrl-C.

    Returns
    -------
    The result of ``fn()``.

    Raises
    ------
    KeyboardInterrupt
        After the C side has stopped (the run's partial results are to be discarded).
    """
    if threading.current_thread() is not threading.main_thread():
        return fn()
    stop[0] = 0
    box = {}

    def work():
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=work, name="biosnn-c-run", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(POLL)
    except KeyboardInterrupt:
        stop[0] = 1
        while worker.is_alive():
            try:
                worker.join(POLL)
            except KeyboardInterrupt:  # a second Ctrl-C: still wait for C to stop
                continue
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]
