"""Text with placeholder names turned into trees: rule formulas and generated functions.

A rule is an expression such as ``"g * np.cos(x)"``; :func:`instantiate` parses it once and
replaces its placeholder names with the nodes of one use (``g`` the cotangent, ``x`` an operand).
Driver and kernel templates are whole functions written as text (:func:`function`).
"""
from __future__ import annotations

import copy
import functools

import gast


@functools.lru_cache(maxsize=None)
def _expression(text: str):
    return gast.parse(text).body[0].value


def expression(text: str):
    """A fresh tree of the expression ``text`` (parsed once per text)."""
    return copy.deepcopy(_expression(text))


class _Substitute(gast.NodeTransformer):
    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        # The inserted node is not visited again: a placeholder's value is never substituted into.
        return copy.deepcopy(self.mapping[node.id]) if node.id in self.mapping else node


def substitute(tree, mapping: dict):
    """``tree`` with each name in ``mapping`` replaced by a copy of its node (in place; returned)."""
    return _Substitute(mapping).visit(tree)


def instantiate(text: str, mapping: dict):
    """The expression ``text`` with its placeholder names replaced by the nodes in ``mapping``."""
    return substitute(expression(text), mapping)


def function(text: str) -> gast.FunctionDef:
    """The function defined by ``text`` (a template already filled in), as a tree."""
    return gast.parse(text).body[0]
