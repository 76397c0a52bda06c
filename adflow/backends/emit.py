"""Print generated trees as readable Python, remembering which user line each line came from."""
from __future__ import annotations

import ast

import gast


def comment(text: str, lineno: int | None = None):
    """A statement that prints as ``# text`` (used to label sections of generated code)."""
    node = gast.Expr(value=gast.Constant(value=text, kind=None))
    node.adflow_comment = True
    if lineno is not None:
        node.lineno = lineno
    return node


def expr_source(node) -> str:
    return ast.unparse(gast.gast_to_ast(node))


class Emitter:
    """Accumulates lines of source and, for each, the user line it stands for (or None)."""

    def __init__(self):
        self.lines: list[str] = []
        self.user_lines: list[int | None] = []

    def line(self, text: str, user_line=None, indent: int = 0):
        self.lines.append("    " * indent + text)
        self.user_lines.append(user_line)

    def function(self, fdef, indent: int = 0, header_comment: str | None = None):
        args = expr_source(fdef.args)
        ln = getattr(fdef, "lineno", None)
        if header_comment:
            for text in header_comment.splitlines():
                self.line(f"# {text}" if text else "#", None, indent)
        self.line(f"def {fdef.name}({args}):", ln, indent)
        self.block(fdef.body, indent + 1)
        self.line("", None)

    def block(self, stmts, indent: int):
        if not stmts:
            self.line("pass", None, indent)
        for stmt in stmts:
            self.statement(stmt, indent)

    def statement(self, stmt, indent: int):
        ln = getattr(stmt, "lineno", None)
        if getattr(stmt, "adflow_comment", False):
            self.line(f"# {stmt.value.value}", ln, indent)
        elif isinstance(stmt, gast.If):
            self.line(f"if {expr_source(stmt.test)}:", ln, indent)
            self.block(stmt.body, indent + 1)
            # An else holding only an if reads as the elif it was written as.
            while len(stmt.orelse) == 1 and isinstance(stmt.orelse[0], gast.If) \
                    and not getattr(stmt.orelse[0], "adflow_comment", False):
                stmt = stmt.orelse[0]
                self.line(f"elif {expr_source(stmt.test)}:", getattr(stmt, "lineno", None), indent)
                self.block(stmt.body, indent + 1)
            if stmt.orelse:
                self.line("else:", ln, indent)
                self.block(stmt.orelse, indent + 1)
        elif isinstance(stmt, gast.For):
            self.line(f"for {expr_source(stmt.target)} in {expr_source(stmt.iter)}:", ln, indent)
            self.block(stmt.body, indent + 1)
        elif isinstance(stmt, gast.While):
            self.line(f"while {expr_source(stmt.test)}:", ln, indent)
            self.block(stmt.body, indent + 1)
        elif isinstance(stmt, gast.FunctionDef):
            self.function(stmt, indent)
        else:
            text = ast.unparse(gast.gast_to_ast(stmt))
            for k, piece in enumerate(text.splitlines()):
                self.line(piece, ln, indent)

    @property
    def source(self) -> str:
        return "\n".join(self.lines) + "\n"


def function_source(fdef) -> tuple[str, list]:
    emitter = Emitter()
    emitter.function(fdef)
    return emitter.source, emitter.user_lines
