"""Griffe extension: render adflow's reST-flavoured docstrings as Markdown in the API reference.

adflow's docstrings are written for ``help()`` and doctest: ``>>>`` examples without fences,
``::`` literal blocks and Sphinx roles such as :func:`plan`.  Markdown would turn ``>>>`` into
nested quotes, so before mkdocstrings renders a docstring this extension (loaded by path from
mkdocs.yml) fences doctest examples as ``pycon``, fences ``::`` literal blocks, and turns roles
into inline code.  The docstrings themselves are not changed.
"""
from __future__ import annotations

import re
import textwrap

import griffe

ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|exc|obj):`~?([^`]+)`")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def convert(text: str) -> str:
    text = ROLE.sub(r"``\1``", text)
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    fenced = False
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):  # already Markdown (a second pass over the same docstring)
            fenced = not fenced
        if fenced or stripped.startswith("```"):
            out.append(line)
            i += 1
            continue
        if stripped.startswith(">>>"):  # a doctest block runs to the next blank line
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += ["```pycon"] + textwrap.dedent("\n".join(block)).split("\n") + ["```"]
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):  # a reST literal block follows
            base = _indent(line)
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            block_start = j
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
                j += 1
            if j > block_start:
                intro = line.rstrip()[:-1]  # "Messages read::" -> "Messages read:"
                if intro.strip() == ":":
                    intro = ""
                block = "\n".join(lines[block_start:j]).rstrip("\n")
                out += ([intro] if intro.strip() else []) + [""] + ["```text"] \
                    + textwrap.dedent(block).split("\n") + ["```", ""]
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RestToMarkdown(griffe.Extension):
    """Both events may fire for one object; ``convert`` leaves fenced text alone, so twice is harmless."""

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)

    def on_instance(self, *, obj, **kwargs) -> None:
        self.on_object(obj=obj)
