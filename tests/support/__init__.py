"""Helpers shared by several test modules (imported as ``support.<module>``).

``tests/`` is on the import path through ``pythonpath`` in pyproject.toml, so a test
writes ``from support import fuzzgen``.  Keep each helper module about one thing:

* :mod:`support.fuzzgen` - random model texts for the fuzz tests (``tests/equations``
  and the long hand-run ``tests/fuzz_large.py``).
"""
