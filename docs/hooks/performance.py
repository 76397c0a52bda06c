"""mkdocs hook: fill docs/performance.md with the tables of the published benchmark results.

``python -m benchmarks`` writes ``benchmarks/results/latest.json``; ``python -m benchmarks.publish``
copies it to ``docs/benchmarks/latest.json`` (committed, so every build shows the same figures)
and updates the README.  When no snapshot is published (or it is unreadable), the page says how
to produce one.  The marker ``<!-- benchmark-results -->`` in the page is replaced.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

MARKER = "<!-- benchmark-results -->"
PUBLISHED = Path("docs") / "benchmarks" / "latest.json"

PLACEHOLDER = """!!! note "No benchmark results in this build"
    `docs/benchmarks/latest.json` did not exist when these pages were built.  Produce it with

    ```bash
    python -m pip install -e '.[bench]'   # JAX, PyTorch, autograd, matplotlib (optional peers)
    python -m benchmarks                  # every problem at full size (minutes)
    python -m benchmarks.publish          # copy the results into docs/ and the README
    ```

    and build the documentation again (`mkdocs build`): the tables appear here.
"""



def _markdown_module():
    # The renderer lives with the benchmarks (the README uses it too); loaded by path because a
    # hook runs without the repository on sys.path.
    source = Path(__file__).resolve().parents[2] / "benchmarks" / "markdown.py"
    spec = importlib.util.spec_from_file_location("adflow_benchmarks_markdown", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results_markdown(root: Path) -> str:
    path = root / PUBLISHED
    if not path.is_file():
        return PLACEHOLDER
    try:
        data = json.loads(path.read_text())
        chart = "![best column of each tool / numba primal](benchmarks/latest.png)\n\n" \
            if path.with_suffix(".png").is_file() else ""
        return chart + _markdown_module().render(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return PLACEHOLDER + f"\n    (`{path.name}` exists but could not be read: {type(exc).__name__}: {exc})\n"


def on_page_markdown(markdown, page, config, files, **kwargs):
    if page.file.src_uri != "performance.md" or MARKER not in markdown:
        return markdown
    root = Path(config.config_file_path).resolve().parent
    return markdown.replace(MARKER, results_markdown(root))
