"""One user function through the front end, for one set of argument types.

read and parse -> fence (refuse what is outside the subset) -> normalise -> remove early exits ->
infer every variable's type with numba.  The result, :class:`Prepared`, is what the transforms read.
"""
from __future__ import annotations

import gast
import numba
from numba.core import types

from ..backends import emit
from ..duals.helpers import dual_zeros
from ..duals.numba_dual import DualArrayType, DualType
from ..errors import TypingError
from ..forward.transform import with_dual_storage
from ..frontend import fence
from ..frontend.exits import remove_early_exits
from ..frontend.fusion import fuse_reductions
from ..frontend.ops import Classifier
from ..frontend.normalize import normalize
from ..frontend.typeinfer import infer_types, jitted, load_types, store_types, type_cache_key
from ..reverse import passes
from ..rules.custom import primal_of
from ..syntax import source
from ..syntax.nodes import statements
from . import derivative_calls
from .build_report import stage


class Prepared:
    """A user function after the front end: normalised tree, its names, its variables' types.

    ``forward_version(primal, argtypes, wrt, chunk)`` builds a helper's forward mode, for targets
    whose generated code calls helpers as written (:meth:`adflow.targets.base.Target.wrap_helper`).
    """

    def __init__(self, func, argtypes, target, forward_version, fuse=True):
        with stage("parse/normalize"):
            self._front_end(func, argtypes, target)
        fuse = fuse and "fusion" not in passes.off()
        if fuse and self.value_types is not None:
            # Dual arguments (a Hessian): chains are found on the values' types, inferred already,
            # and the duals typed once, after fusion (typing whole-array dual code compiles an
            # overload per operation: seconds, for code that fusion then replaces).
            self._fuse(self.value_types, fill_arrays=False)
            self.vartypes, self.return_type = self._infer(argtypes)
        else:
            self.vartypes, self.return_type = self._infer(argtypes)
            if fuse:
                self._fuse(self.vartypes, fill_arrays=True)
                if self.fused:
                    self.vartypes, self.return_type = self._infer(argtypes)
        for gname, value in self.normalizer.arrays.items():
            # A global array passed to a helper: its type (numba freezes it, read-only) types that call.
            self.vartypes.setdefault(gname, numba.typeof(value).copy(readonly=True))
        for hname, obj in self.normalizer.helpers.items():
            if derivative_calls.is_derivative(obj):
                continue  # adflow.grad(f) called here: the builder writes it into the module (derivative_calls.py)
            self.namespace[hname] = target.wrap_helper(primal_of(obj), forward_version)

    def _front_end(self, func, argtypes, target):
        """Read, fence, normalise, remove early exits (and, for dual arguments, store values as duals)."""
        self.fn = source.load(func)
        fence.check(self.fn)
        fence.check_helpers(self.fn)
        fdef, self.normalizer = normalize(self.fn)
        self.fdef = remove_early_exits(fdef, self.normalizer.fresh)
        derivative_calls.check_calls(self.fn, self.fdef, self.normalizer.helpers, target)
        self.namespace = dict(self.normalizer.globals_used)
        self.namespace.update(self.normalizer.arrays)
        duals = [(p, t) for p, t in zip(self.fn.params, argtypes) if isinstance(t, (DualType, DualArrayType))]
        self.value_types = None
        if duals:  # a Hessian: allocations filled with the dual arguments' values must hold duals
            values = tuple(t.value_type if isinstance(t, DualArrayType) else
                           types.float64 if isinstance(t, DualType) else t for t in argtypes)
            primal_types, _ = self._infer(values)
            self.value_types = primal_types
            derivative_calls.refuse_third_order(self.fn, self.fdef, self.normalizer, primal_types,
                                                [p for p, _ in duals])
            self.fdef = with_dual_storage(self.fn, self.fdef, self.normalizer, primal_types,
                                          [p for p, _ in duals], duals[0][1].k)
            self.namespace["dual_zeros"] = dual_zeros
            if "np" in self.fn.globals:  # math calls on duals became NumPy calls
                self.namespace.setdefault("np", self.fn.globals["np"])

    def _fuse(self, vartypes, fill_arrays):
        """Elementwise chains become loops (frontend/fusion.py); ``self.fused`` counts them."""
        with stage("parse/normalize"):
            classifier = Classifier(self.fn, self.normalizer.helpers, self.normalizer.locals)
            ops = {id(s): classifier.classify(s) for s in statements(self.fdef.body) if isinstance(s, gast.Assign)}
            fdef, self.fused = fuse_reductions(self.fdef, ops, vartypes, self.normalizer.fresh,
                                               self.normalizer.numpy_call, fill_arrays)
        if self.fused:
            self.fdef = fdef
            self.namespace.update(self.normalizer.globals_used)  # NumPy, where a function never named it

    def _infer(self, argtypes):
        """numba's types of every variable of ``self.fdef`` for ``argtypes`` (cached on disk)."""
        with stage("type inference"):
            return self._infer_types(argtypes)

    def _infer_types(self, argtypes):
        self.primal_source, self.user_lines = emit.function_source(self.fdef)
        typing_namespace = dict(self.namespace)
        for hname, obj in self.normalizer.helpers.items():
            typing_namespace[hname] = jitted(primal_of(obj))
        key = type_cache_key(self.primal_source, argtypes, self.namespace, self.normalizer.helpers)
        with stage("type cache load"):
            cached = load_types(key)
        if cached is not None:
            return cached
        code = compile(self.primal_source, f"<adflow-normalized:{self.fn.name}>", "exec")
        exec(code, typing_namespace)
        try:
            result = infer_types(typing_namespace[self.fdef.name], argtypes, self.user_lines, self.fn.filename,
                                 self.fn.name)
        except TypingError:
            # numba typed the helpers with this function: one outside the subset is the better message.
            fence.check_helpers(self.fn, strict=True)
            raise
        store_types(key, result)
        return result

    @property
    def where(self) -> str:
        """``f (file.py:12)``: what a generated function's header comment names."""
        return f"{self.fn.name} ({self.fn.filename}:{self.fn.tree.lineno})"
