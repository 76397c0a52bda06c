import numpy as np
import pytest

TARGETS = ["python", "cpu"]


@pytest.fixture(params=TARGETS)
def target(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(config, items):
    """Put the cpu variant of a `cpu_slow` test in the slow tier; its python variant stays.

    The python target runs the same generated code uncompiled, so the default suite still checks
    every transform on every case; what moves is the numba compile of the larger cases, which
    `.ci/run` runs in its slow step.
    """
    for item in items:
        if item.get_closest_marker("cpu_slow") is None:
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "target" not in params:
            raise pytest.UsageError(f"{item.nodeid} is marked cpu_slow but takes no `target`")
        if params["target"] == "cpu":
            item.add_marker(pytest.mark.slow)
