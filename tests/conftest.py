import numpy as np
import pytest

TARGETS = ["python", "cpu"]


@pytest.fixture(params=TARGETS)
def target(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)
