"""Front end: read a user function, check it is in adflow's subset, and normalise it.

The passes, in order, after :mod:`adflow.syntax.source` has read and parsed the source:
:mod:`.fence` (reject unsupported syntax with the user's file:line), :mod:`.namespace` (resolve
the globals the function uses), :mod:`.normalize` (one operation per assignment; its expressions
and calls in :mod:`.normalize_expressions` and :mod:`.normalize_calls`), :mod:`.exits`
(``break``/``continue``/early ``return`` become flags), then :mod:`.typeinfer` (numba infers
every variable's type).  The transforms read the result through :mod:`.ops` (what each normalised
statement computes) and :mod:`.dependencies` (which variables depend on which).
"""
