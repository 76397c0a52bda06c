import numpy as np
import pytest

TARGETS = ["python", "cpu"]

# Campaign-sized tests in a file that its owner keeps (tests/test_fuzz.py), marked slow here by
# name: a plain pytest leaves them out, and .ci/run runs them with `-m slow`.  (Marked in the file
# itself, they would leave this list.)
SLOW_ELSEWHERE = {
    "tests/test_fuzz.py::test_fuzz_python_target",  # 200 random programs: about 5 min of one core
    "tests/test_fuzz.py::test_fuzz_budget_was_200_distinct_programs",  # reads what the one above counted
    "tests/test_fuzz.py::test_fuzz_cpu_agrees_with_python",  # a numba compile per random program
}


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid in SLOW_ELSEWHERE:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(params=TARGETS)
def target(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)
