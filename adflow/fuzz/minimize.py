"""Shrinking a failing program: statements deleted and unwrapped while the same kind of finding remains."""
import ast
import dataclasses

from .checks import Finding, check_program
from .programs import Loader, Program


def minimize(program: Program, targets=("python",), kind=None, loader=None) -> Program:
    """Delete and unwrap statements while the same kind of finding remains (delta debugging)."""
    loader = loader or Loader()

    def finding_kind(source):
        try:
            check_program(dataclasses.replace(program, source=source), loader, targets)
        except Finding as exc:
            return exc.kind
        except Exception:  # noqa: BLE001 - e.g. the candidate no longer parses or compiles
            return None
        return None

    kind = kind or finding_kind(program.source)
    if kind is None:
        return program
    source = program.source
    progress = True
    while progress:
        progress = False
        tree = ast.parse(source)
        bodies = [(node, attr) for node in ast.walk(tree) for attr in ("body", "orelse")
                  if isinstance(getattr(node, attr, None), list)]
        edits = []
        for node, attr in bodies:
            stmts = getattr(node, attr)
            for k, stmt in enumerate(stmts):
                if isinstance(stmt, ast.Return) and node is tree.body[0] and attr == "body":
                    continue
                edits.append((node, attr, k, None))  # delete
                if isinstance(stmt, (ast.If, ast.For, ast.While)):
                    edits.append((node, attr, k, "unwrap"))
                    if isinstance(stmt, ast.If) and stmt.orelse:
                        edits.append((node, attr, k, "else"))
        for node, attr, k, how in edits:
            stmts = getattr(node, attr)
            old = list(stmts)
            if how is None:
                replacement = []
            elif how == "unwrap":
                replacement = [s for s in stmts[k].body if not isinstance(s, (ast.Break, ast.Continue))]
            else:
                replacement = list(stmts[k].orelse)
            new = stmts[:k] + replacement + stmts[k + 1:]
            if not new:
                continue
            setattr(node, attr, new)
            candidate = ast.unparse(tree) + "\n"
            setattr(node, attr, old)
            if finding_kind(candidate) == kind:
                source = candidate
                progress = True
                break
    return dataclasses.replace(program, source=source)
