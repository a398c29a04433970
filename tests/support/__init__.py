"""Helpers shared by tests in more than one directory, imported as ``tests.support.<module>``.

A helper used by one directory's tests stays next to them; one that several directories
need lives here, so no conftest has to put another test directory on ``sys.path``
(pytest's ``pythonpath = ["."]`` makes ``tests`` importable from the repository root).
"""
