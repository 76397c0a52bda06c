"""Replace ``break``, ``continue`` and early ``return`` with flags, so every block runs top to bottom.

After this pass the only jump left is a trailing ``if <flag>: break`` at the end of a ``for``
body (the loop's exit test).  A statement after one that may exit is guarded by
``if <go flag>:``; the reverse sweep replays those guards like any other branch.

    for i in range(n):              _brk = False
        a = x[i]                    for i in range(n):
        if a > 1.0:                     _go = True
            break            ->         a = x[i]
        s = s + a                       if a > 1.0: _go = False; _brk = True
                                        if _go: s = s + a
                                        if _brk: break
"""
from __future__ import annotations

import gast

from ..syntax.nodes import assign, const, name


class _Loop:
    def __init__(self, go: str, brk: str):
        self.go, self.brk = go, brk
        self.uses_go = self.uses_brk = False


class ExitRemover:
    def __init__(self, fresh):
        self.fresh = fresh
        self.result = None
        self.go_function = None

    def run(self, fdef: gast.FunctionDef) -> gast.FunctionDef:
        body = fdef.body
        returns = [n for n in gast.walk(fdef) if isinstance(n, gast.Return)]
        simple = len(returns) == 1 and body and body[-1] is returns[0]
        loops_with_jumps = any(isinstance(n, (gast.Break, gast.Continue)) for n in gast.walk(fdef))
        if simple and not loops_with_jumps:
            return fdef
        if not simple:
            self.result = self.fresh("result")
            self.go_function = self.fresh("go")
        new_body = self.block(body, [])
        if not simple:
            first = assign(self.go_function, const(True), fdef.lineno)
            ret = gast.Return(value=name(self.result))
            ret.lineno = returns[-1].lineno if returns else fdef.lineno
            new_body = [first] + new_body + [ret]
        fdef.body = new_body
        return fdef

    # ------------------------------------------------------------------
    def go_flag(self, loops):
        if loops:
            loops[-1].uses_go = True
            return loops[-1].go
        return self.go_function

    def may_exit(self, stmt, loops) -> bool:
        if self.result is not None and any(isinstance(n, gast.Return) for n in gast.walk(stmt)):
            return True
        return bool(loops) and _has_jump(stmt)

    def block(self, stmts, loops) -> list:
        out = []
        for k, stmt in enumerate(stmts):
            exits = self.may_exit(stmt, loops)  # before self.stmt rewrites the jumps inside it
            out.extend(self.stmt(stmt, loops))
            rest = stmts[k + 1:]
            if rest and exits:
                # Return at the very end of the function body needs no guard after it.
                guard = gast.If(test=name(self.go_flag(loops)), body=self.block(rest, loops), orelse=[])
                guard.lineno = rest[0].lineno
                out.append(guard)
                break
        return out

    def stmt(self, s, loops) -> list:
        ln = getattr(s, "lineno", 0)
        if isinstance(s, gast.Break):
            loop = loops[-1]
            loop.uses_go = loop.uses_brk = True
            return [assign(loop.go, const(False), ln), assign(loop.brk, const(True), ln)]
        if isinstance(s, gast.Continue):
            loops[-1].uses_go = True
            return [assign(loops[-1].go, const(False), ln)]
        if isinstance(s, gast.Return):
            if self.result is None:
                return [s]
            out = [assign(self.result, s.value, ln), assign(self.go_function, const(False), ln)]
            for loop in loops:
                loop.uses_go = loop.uses_brk = True
                out += [assign(loop.go, const(False), ln), assign(loop.brk, const(True), ln)]
            return out
        if isinstance(s, gast.If):
            s.body = self.block(s.body, loops) or [gast.Pass()]
            s.orelse = self.block(s.orelse, loops)
            return [s]
        if isinstance(s, gast.For):
            return self.loop(s, loops, ln)
        if isinstance(s, gast.While):
            return self.loop(s, loops, ln)
        return [s]

    def loop(self, s, loops, ln) -> list:
        loop = _Loop(self.fresh("go"), self.fresh("brk"))
        if isinstance(s, gast.While):
            n_cond = getattr(s, "cond_len", 0)
            user, recompute = s.body[: len(s.body) - n_cond], s.body[len(s.body) - n_cond:]
        else:
            user, recompute = s.body, []
        body = self.block(user, loops + [loop])
        if loop.uses_go:
            body = [assign(loop.go, const(True), ln)] + body
        before = []
        if loop.uses_brk:
            before = [assign(loop.brk, const(False), ln)]
            if isinstance(s, gast.While):
                stop = assign(s.test.id, const(False), ln)
                exit_test = gast.If(test=name(loop.brk), body=[stop], orelse=recompute)
                exit_test.lineno = ln
                recompute = [exit_test]
            else:
                exit_test = gast.If(test=name(loop.brk), body=[gast.Break()], orelse=[])
                exit_test.lineno = ln
                recompute = [exit_test]
        s.body = (body + recompute) or [gast.Pass()]
        return before + [s]


def _has_jump(stmt) -> bool:
    """Does ``stmt`` contain a break/continue that jumps out of the *current* loop?"""
    if isinstance(stmt, (gast.Break, gast.Continue)):
        return True
    if isinstance(stmt, (gast.For, gast.While)):
        return False
    return any(_has_jump(child) for child in gast.iter_child_nodes(stmt) if isinstance(child, gast.stmt))


def remove_early_exits(fdef, fresh):
    return ExitRemover(fresh).run(fdef)
