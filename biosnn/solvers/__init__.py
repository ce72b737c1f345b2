"""Solvers: methods as data (tableaux), step-size controllers, events, the NumPy drivers
and :func:`simulate`, which chooses the backend and returns a :class:`Result`.
"""
