"""Reverse mode by source transformation.

:mod:`.activity` finds the variables that carry derivatives, :mod:`.tape` decides what the
forward sweep saves (and what the reverse sweep recomputes instead), :mod:`.adjoint` writes the
adjoint statements of one operation from the rule table, and :mod:`.transform` plans the
derivative and writes, through :mod:`.forward_sweep`, :mod:`.reverse_sweep` and :mod:`.tape_code`
(pushes and pops), the two sweeps, which :mod:`.assembly` puts into a function (declaring
variables with :mod:`.placeholders`), attaching the record :mod:`.sweeps` describes.  The passes
:mod:`.reuse_values`, :mod:`.single_adjoints` and :mod:`.unused_value` rewrite its output for
the targets that run them.
"""
