"""adflow's modules form layers, and every import between them goes down (or stays in its layer).

The imports are read with ``ast`` from the files, at module level and inside functions alike (an
import inside a function is still a dependency, only a hidden one), so these checks need no
import of adflow and see code paths no test runs.  They fail on:

* an import from a higher layer (``LAYERS`` below, lowest first);
* a private name (leading underscore) imported from another adflow module: what a module shares
  is public, so the next reader sees the dependency;
* any cycle between modules, in or across layers;
* an adflow import inside a function (outside the tools at the top): it hides a dependency, and
  usually a cycle;
* reverse mode importing forward mode's transform or the other way round: what both need lives
  below them.

A package's ``__init__`` is the module named after the package; the import of a parent package
that Python performs before a submodule's is not counted (it is not written in the code).
"""
from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "adflow"

# Lowest first.  A module belongs to the layer of its most specific pattern (an exact name beats a
# pattern with '*').  Keep this table, adflow/__init__.py's docstring and docs/architecture.md alike.
LAYERS = [
    ("errors", ["adflow.errors"]),
    ("syntax", ["adflow.syntax", "adflow.syntax.*", "adflow.backends", "adflow.backends.symbols",
                "adflow.backends.cache_files",
                "adflow.backends.emit", "adflow.backends.drivers", "adflow.backends.memory",
                "adflow.backends.vector_math"]),
    ("rules", ["adflow.rules", "adflow.rules.*"]),
    ("dual numbers", ["adflow.duals", "adflow.duals.*", "adflow.value_types"]),
    ("runtime", ["adflow.runtime", "adflow.backends.modules", "adflow.checkpoint.schedule"]),
    ("front end", ["adflow.frontend", "adflow.frontend.*"]),
    ("transforms", ["adflow.reverse", "adflow.reverse.*", "adflow.forward", "adflow.forward.transform",
                    "adflow.forward.unread_values", "adflow.forward.row_blocks", "adflow.checkpoint",
                    "adflow.checkpoint.split", "adflow.checkpoint.drivers"]),
    ("targets", ["adflow.targets", "adflow.targets.*", "adflow.cuda", "adflow.cuda.sizing", "adflow.cuda.adapter",
                 "adflow.cuda.kernels"]),
    ("pipeline", ["adflow.pipeline", "adflow.pipeline.*", "adflow.pickling", "adflow.checkpoint.build",
                  "adflow.checkpoint.run"]),
    ("entry points", ["adflow.api", "adflow.compose", "adflow.forward.api", "adflow.jacobian", "adflow.second_order",
                      "adflow.derivative_runs", "adflow.sparsity",
                      "adflow.planning", "adflow.specializations", "adflow.cuda.build", "adflow.cuda.launch",
                      "adflow.cuda.api", "adflow.checkpoint.api"]),
    ("package and tools", ["adflow", "adflow.testing", "adflow.demo", "adflow.fuzz", "adflow.fuzz.*", "adflow.cache",
                           "adflow.cache.*"]),
    ("integrations", ["adflow.dask", "adflow.dask.*"]),
]
TOOLS = "package and tools"  # the only layer whose functions may import adflow (after setting the environment)


def module_files() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = module_files()


class Import:
    def __init__(self, source: str, target: str, name: str | None, line: int, in_function: bool):
        self.source, self.target, self.name, self.line, self.in_function = source, target, name, line, in_function

    def __str__(self):
        what = f"{self.target}.{self.name}" if self.name else self.target
        where = "inside a function" if self.in_function else "at module level"
        return f"{self.source}:{self.line} imports {what} ({where})"


def _base(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module
    parts = module.split(".")
    if not MODULES[module].name == "__init__.py":
        parts = parts[:-1]
    parts = parts[:len(parts) - node.level + 1]
    return ".".join(parts + ([node.module] if node.module else []))


def imports_of(module: str) -> list[Import]:
    """Every adflow import written in ``module``: one per imported module or name."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "adflow":
                        found.append(Import(module, alias.name, None, child.lineno, inner))
            elif isinstance(child, ast.ImportFrom):
                base = _base(module, child)
                if base.split(".")[0] == "adflow":
                    for alias in child.names:
                        submodule = f"{base}.{alias.name}"
                        if submodule in MODULES:
                            found.append(Import(module, submodule, None, child.lineno, inner))
                        else:
                            found.append(Import(module, base, alias.name, child.lineno, inner))
            visit(child, inner)

    visit(ast.parse(MODULES[module].read_text()), False)
    return found


IMPORTS = [imp for module in MODULES for imp in imports_of(module)]


def layer_of(module: str) -> int:
    best = None  # (specificity, layer index)
    for index, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if fnmatch.fnmatchcase(module, pattern):
                rank = (0 if "*" in pattern else 1, len(pattern))
                if best is None or rank > best[0]:
                    best = (rank, index)
    if best is None:
        raise LookupError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return best[1]


def _known(target: str) -> str:
    """The adflow module an import names (a name imported from a module counts as that module)."""
    while target not in MODULES and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def test_every_module_has_a_layer():
    missing = []
    for module in MODULES:
        try:
            layer_of(module)
        except LookupError as exc:
            missing.append(str(exc))
    assert not missing, "\n".join(missing)


def test_imports_go_down_the_layers():
    upward = []
    for imp in IMPORTS:
        target = _known(imp.target)
        if layer_of(target) > layer_of(imp.source):
            upward.append(f"{imp}: {LAYERS[layer_of(imp.source)][0]} -> {LAYERS[layer_of(target)][0]}")
    assert not upward, f"{len(upward)} imports against the layer order:\n" + "\n".join(upward)


def test_no_private_names_cross_modules():
    private = [str(imp) for imp in IMPORTS
               if imp.name and imp.name.startswith("_") and not imp.name.startswith("__")]
    assert not private, f"{len(private)} private names imported from another module:\n" + "\n".join(private)


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        target = _known(imp.target)
        if target != imp.source:
            graph[imp.source].add(target)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_no_import_cycles():
    found = cycles()
    assert not found, f"{len(found)} import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_adflow_imports_are_at_module_level():
    hidden = [str(imp) for imp in IMPORTS if imp.in_function and LAYERS[layer_of(imp.source)][0] != TOOLS]
    assert not hidden, f"{len(hidden)} adflow imports inside functions:\n" + "\n".join(hidden)


@pytest.mark.parametrize("one, other", [("adflow.reverse", "adflow.forward"), ("adflow.forward", "adflow.reverse")])
def test_transforms_do_not_import_each_other(one, other):
    transforms = LAYERS.index(next(layer for layer in LAYERS if layer[0] == "transforms"))
    crossing = [str(imp) for imp in IMPORTS
                if imp.source.startswith(one) and layer_of(imp.source) == transforms
                and _known(imp.target).startswith(other)]
    assert not crossing, "\n".join(crossing)


def test_the_package_docstring_names_the_layers_in_order():
    doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text()))
    order = " ".join(line.strip() for line in doc.splitlines() if "<" in line)
    assert [name.strip() for name in order.split("<")] == [name for name, _ in LAYERS]

