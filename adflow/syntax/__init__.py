"""Syntax: gast trees built, read and printed without knowing what they compute.

:mod:`.nodes` builds and reads the nodes every pass writes (``name``, ``assign``, ``call``...),
:mod:`.templates` turns rule and driver text into trees with names substituted, and
:mod:`.source` reads a user function's source into a tree that keeps the file's line numbers.
"""
