"""Backends: turn generated trees into source text and run it.

:mod:`.emit` prints trees as readable Python with a map back to the user's lines;
:mod:`.modules` writes a generated module to the cache folder and imports it;
:mod:`.python` runs it as plain Python, :mod:`.cpu` compiles it with numba.
"""
