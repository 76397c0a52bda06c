"""Checkpointed reverse mode: long loops differentiated in bounded memory.

``grad(f, checkpoint=...)`` splits ``f`` (after the front end) at its top-level loops
(:mod:`.split`): the code between the loops becomes functions differentiated as usual, and each
chosen loop becomes one iteration, ``step(state, invariants, k) -> state``, compiled three ways
(advance without tape, one iteration's vjp, a trip counter).  :mod:`.schedule` translates a binomial
(Revolve) schedule of the ``checkpoint_schedules`` package into a plan of integer rows, which the
loop's compiled driver (:mod:`.drivers`) carries out, calling the compiled pieces; :mod:`.run`
holds one call's snapshots; :mod:`.build` generates and loads the pieces, :mod:`.api` picks the
snapshots (``checkpoint=int`` or ``"auto"`` with a memory budget).  docs/checkpointing.md explains the design.
"""
