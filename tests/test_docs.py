"""The documentation's code runs, its API names exist, and its build hooks render what they promise.

The site itself is built by ``.ci/run`` (``mkdocs build --strict``); these checks are the fast
part that needs no mkdocs: the Python blocks of the pages that teach the API run as written
(each page's blocks in order, as one module, since adflow reads source from files).
"""
import importlib.util
import re
import sys
from pathlib import Path

import pytest

import adflow

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HOOKS = DOCS / "hooks"
# scipy.md and composition.md build a dozen compiled derivatives each: they run in the slow tier.
RUNNABLE_PAGES = ["quickstart.md", "concepts.md", "custom-rules.md",
                  pytest.param("scipy.md", marks=pytest.mark.slow),
                  pytest.param("composition.md", marks=pytest.mark.slow)]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def load_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_page_code_runs(page, tmp_path, capsys):
    blocks = [b for b in BLOCK.findall((DOCS / page).read_text()) if ">>>" not in b]
    assert blocks, f"no python blocks in {page}"
    path = tmp_path / f"docs_{page.replace('-', '_').replace('.md', '')}.py"
    path.write_text("\n\n".join(blocks))
    load_file(path, f"adflow_docs_{path.stem}")


def test_api_names_in_the_docs_exist():
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md")) + (ROOT / "README.md").read_text()
    names = set(re.findall(r"\badflow\.([a-zA-Z_]\w*)", text))
    missing = sorted(n for n in names if not hasattr(adflow, n) and importlib.util.find_spec(f"adflow.{n}") is None)
    assert not missing, f"the docs name adflow.{missing} which do not exist"


def test_the_plans_quoted_in_concepts():
    text = (DOCS / "concepts.md").read_text()
    for n, m in [(8, 2000), (2000, 8)]:
        assert str(adflow.plan(n, m)) in text


def test_performance_hook_renders_results_or_placeholder(tmp_path):
    perf = load_file(HOOKS / "performance.py", "adflow_docs_hook_performance")
    assert "python -m benchmarks" in perf.results_markdown(tmp_path)  # no results: how to make them
    results = tmp_path / "docs" / "benchmarks"
    results.mkdir(parents=True)
    (results / "latest.json").write_text(
        '{"machine": {"cpu": "test cpu", "cores": 2}, "settings": {"mode": "quick"}, "problems": ['
        '{"name": "rosenbrock", "title": "Rosenbrock", "derivative": "gradient", "size": {"n": 100},'
        ' "primal_median_s": 1e-5, "columns": [{"label": "adflow.grad", "tool": "adflow", "status": "ok",'
        ' "ratio": 3.5, "median_s": 3.5e-5, "first_call_s": 2.0, "check_err": 1e-16, "factor": 1.0},'
        ' {"label": "jax", "tool": "jax", "status": "not installed"}]}]}')
    text = perf.results_markdown(tmp_path)
    assert "test cpu" in text and "| adflow.grad | 2.00 s | 35 µs | 3.5 |" in text and "not installed" in text
    (results / "latest.json").write_text("{ not json")
    assert "could not be read" in perf.results_markdown(tmp_path)


def test_publish_rewrites_only_the_readme_section():
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import publish
    finally:
        sys.path.remove(str(ROOT))
    data = {"machine": {"cpu": "test cpu", "cores": 2, "date": "2026-11-23"}, "settings": {"mode": "full", "repeats": 7},
            "problems": [{"name": "lorenz", "columns": [{"tool": "adflow", "status": "ok", "ratio": 2.5, "factor": 1.0},
                                                        {"tool": "jax", "status": "ok", "ratio": 40.0, "factor": 1.0}]}]}
    text = f"intro\n{publish.START}\nold table\n{publish.END}\noutro\n"
    new = publish.replace_section(text, publish.readme_section(data))
    assert new.startswith("intro\n") and new.endswith("\noutro\n") and "old table" not in new
    assert "| lorenz | 2.5 | 40 |" in new and "test cpu" in new and "2026-11-23" in new
    assert publish.START in (ROOT / "README.md").read_text()  # the README has the section to replace


def test_docstrings_become_markdown():
    rest = load_file(HOOKS / "griffe_rest.py", "adflow_docs_hook_griffe_rest")
    text = "Like :func:`grad`.\n\n>>> f(1.0)\n2.0\n\nMessages read::\n\n    adflow: x\n      hint: y\n\nEnd."
    once = rest.convert(text)
    assert "``grad``" in once and "```pycon\n>>> f(1.0)\n2.0\n```" in once
    assert "Messages read:\n\n```text\nadflow: x\n  hint: y\n```" in once
    assert rest.convert(once) == once  # griffe may call the extension twice on one docstring


@pytest.mark.parametrize("module", ["adflow.api", "adflow.compose", "adflow.forward.api", "adflow.jacobian",
                                    "adflow.second_order",
                                    "adflow.rules.custom", "adflow.cache", "adflow.pipeline.notice",
                                    "adflow.pipeline.binding", "adflow.pipeline.results"])
def test_docstring_examples_run(module):
    # The API reference renders these docstrings: their examples must run and print what they show.
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed, f"{result.failed} docstring examples of {module} failed"
