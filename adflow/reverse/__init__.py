"""Reverse mode by source transformation.

:mod:`.activity` finds the variables that carry derivatives, :mod:`.tape` decides what the
forward sweep saves (and what the reverse sweep recomputes instead), :mod:`.adjoint` writes the
adjoint statements of one operation from the rule table, and :mod:`.transform` assembles the
forward sweep, the reverse sweep and the function around them (declaring variables with
:mod:`.placeholders`), attaching the record :mod:`.sweeps` describes.  The passes
:mod:`.reuse_values`, :mod:`.single_adjoints` and :mod:`.unused_value` rewrite its output for
the targets that run them.
"""
