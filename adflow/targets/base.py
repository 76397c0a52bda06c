"""What a target is: the few decisions that differ between the places generated code runs."""
from __future__ import annotations

from ..reverse import passes


class Target:
    """Where generated code runs, and what that changes in building it.

    The pipeline asks a target five things: how generated code calls the user's functions
    (:meth:`wrap`, :meth:`wrap_helper`), what runs on the reverse transform's output
    (:meth:`after_reverse`, :attr:`gradient_only`), how a loaded module is compiled
    (:meth:`compile`), whether compiled calls use vector math (:attr:`vector_math`), and which
    modes it runs (:attr:`modes`, :attr:`per_thread`).
    """

    name = ""
    # "reverse": vjps; "forward": dual numbers (jvp, forward and sparse Jacobians, Hessians).
    modes = frozenset({"reverse", "forward"})
    # Derivatives run as device functions, one GPU thread each: adflow.cuda serves the entry points.
    per_thread = False
    # Compiled code calls vector_math.cos(x) where the transforms wrote np.cos(x) (backends/vector_math.py).
    vector_math = False
    # grad runs a copy of the vjp without the statements only the value needs (reverse/unused_value.py).
    gradient_only = True

    def wrap(self, function):
        """What generated code calls for the user's ``function`` (or a rule): as written, or compiled."""
        raise NotImplementedError

    def wrap_helper(self, primal, forward_version):
        """What generated code calls for a user helper ``primal`` the transformed function calls.

        ``forward_version(primal, argtypes, wrt, chunk)`` builds the helper's forward mode, for a
        target whose helpers may meet dual numbers as written (the Python target).
        """
        return self.wrap(primal)

    def primal_runner(self, function):
        """What runs the user's ``function`` by itself (to learn its output's shape and layout)."""
        return self.wrap(function)

    def after_reverse(self, vjp):
        """The passes run on the reverse transform's output before it joins the module (reverse/passes.py)."""
        return passes.optimise(vjp)

    def compile(self, module, names, threaded):
        """Compile the generated functions ``names`` of the loaded ``module`` in place (``threaded``:
        drivers that pipeline/rows.py calls from several threads at once)."""

    def supports(self, mode) -> bool:
        return mode in self.modes

    def __repr__(self):
        return f"target={self.name!r}"
