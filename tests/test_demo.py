"""``python -m adflow.demo``, the README's first command, runs and prints numbers that computations
sharing no code with adflow's derivatives confirm: closed forms in NumPy and central differences."""
import re
import subprocess
import sys

import numpy as np
import pytest

from adflow import demo
from adflow.testing import numerical_grad


@pytest.fixture(scope="module")
def printed():
    proc = subprocess.run([sys.executable, "-m", "adflow.demo"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"python -m adflow.demo failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def rosenbrock_value_and_gradient(x):
    """The closed forms, vectorised."""
    r = x[1:] - x[:-1] ** 2
    value = np.sum(100.0 * r ** 2 + (1.0 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * r - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * r
    return value, g


def numbers(text):
    return np.array([float(v) for v in re.split(r"[\s,]+", text.strip())])


def test_rosenbrock_value_and_gradient(printed):
    x = np.random.default_rng(0).uniform(-1.0, 1.0, 100_000)  # the demo's data
    value, g = rosenbrock_value_and_gradient(x)
    assert float(re.search(r"n = 100,000\): value (\S+)$", printed, re.M).group(1)) == pytest.approx(value, rel=1e-5)
    shown = numbers(re.search(r"gradient\[:3\] = \[([^\]]*)\]", printed).group(1))
    np.testing.assert_allclose(shown, g[:3], atol=1e-7)  # printed with 8 decimals


def test_pendulum_sensitivities(printed):
    shown = numbers(re.search(r"d/d\(theta0, omega0, damping\):\n(.*)$", printed, re.M).group(1))
    expected = numerical_grad(demo.pendulum, (0.8, 0.0, 0.3))
    np.testing.assert_allclose(shown, expected, atol=2e-6)  # printed with 6 decimals
