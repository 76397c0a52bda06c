"""Backends: what turns generated trees into running code, below the transforms that write them.

:mod:`.emit` prints trees as readable Python with a map back to the user's lines;
:mod:`.modules` writes a generated module to the cache folder and imports it (its file name
carries the fingerprint of the code generated functions call); :mod:`.drivers` holds the
compiled loops put around generated derivatives; :mod:`.symbols` gives generated functions
distinct machine-code names; :mod:`.vector_math` evaluates NumPy functions four elements at a
time; :mod:`.memory` keeps freed memory for the next call.  How each target compiles and runs a
module is :mod:`adflow.targets`.
"""
