"""adflow.backends.memory: glibc keeps freed memory for the next call's temporaries."""
import os
import platform

import numpy as np
import pytest

import adflow
from adflow.backends import memory


def test_the_thresholds_are_raised_once_code_is_loaded():
    adflow.grad(lambda x: np.sum(np.sin(x) * x), target="python")(np.ones(3))
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    tuned = "GLIBC_TUNABLES" in os.environ or any(k.startswith("MALLOC_") and k.endswith("_") for k in os.environ)
    if not glibc or tuned or os.environ.get("ADFLOW_KEEP_FREED_MEMORY") == "0":
        pytest.skip("the allocator is left alone here")
    assert memory._applied is True


@pytest.mark.parametrize("env", [{"ADFLOW_KEEP_FREED_MEMORY": "0"}, {"MALLOC_ARENA_MAX_": "2"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}])
def test_a_user_who_opts_out_or_tuned_malloc_is_left_alone(monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert memory._raise_thresholds() is False
