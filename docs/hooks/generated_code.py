"""mkdocs hook: put adflow's real generated code into docs/generated-code.md at build time.

A marker ``<!-- adflow-source: NAME -->`` (or ``<!-- adflow-source: NAME header -->`` to keep the
module header) becomes a code block with ``adflow.grad(f, wrt=...).source_for(*args)`` for the
function ``NAME`` of ``codegen_examples.py`` (next to this file), so the page always shows what
the installed adflow writes.  Absolute paths in the source comments are made relative.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARKER = re.compile(r"<!-- adflow-source: (\w+)( header)? -->")
_cache: dict = {}


def _examples():
    name = "adflow_docs_codegen_examples"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "codegen_examples.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def generated(name: str, header: bool, root: Path) -> str:
    key = (name, header)
    if key not in _cache:
        import adflow
        module = _examples()
        func = getattr(module, name)
        args = module.EXAMPLES[name]
        wrt = tuple(k for k, a in enumerate(args) if not isinstance(a, int))
        wrt = wrt[0] if len(wrt) == 1 else wrt
        text = adflow.grad(func, wrt=wrt, target="python").source_for(*args)
        text = text.replace(str(root) + "/", "")
        if not header:
            start = text.find("# reverse mode of")
            text = text[start:] if start >= 0 else text
        _cache[key] = "```python\n" + text.rstrip() + "\n```"
    return _cache[key]


def on_page_markdown(markdown, page, config, files, **kwargs):
    if page.file.src_uri != "generated-code.md":
        return markdown
    root = Path(config.config_file_path).resolve().parent
    return MARKER.sub(lambda m: generated(m.group(1), bool(m.group(2)), root), markdown)
