"""What adflow refuses, with the exact message docs/subset.md quotes for it.

Each case is a small function ``f`` (and its helper ``g``) written to a file, differentiated with
``adflow.grad``; the error's class and message must be the table's, and the table must hold them.
A refusal whose message changes, or a construct that becomes supported, fails here until the
page says so.
"""
import importlib.util
import textwrap
from pathlib import Path

import numpy as np
import pytest

import adflow

SUBSET = (Path(__file__).resolve().parent.parent / "docs" / "subset.md").read_text()

# (name, source of f and its helpers, error class, message)
CASES = [
    ("with", "def f(x):\n    with open('p') as fh:\n        pass\n    return x[0]",
     "UnsupportedSyntaxError", "a 'with' block is not supported"),
    ("try", "def f(x):\n    try:\n        y = x[0]\n    except Exception:\n        y = 0.0\n    return y",
     "UnsupportedSyntaxError", "a 'try' block is not supported"),
    ("yield", "def f(x):\n    yield x[0]", "UnsupportedSyntaxError", "'yield' (a generator) is not supported"),
    ("lambda", "def f(x):\n    return (lambda v: v * v)(x[0])",
     "UnsupportedSyntaxError", "a lambda other than assigned to a name (h = lambda u: ...) is not supported"),
    ("nested def", "def f(x):\n    def sq(v):\n        return v * v\n    g = sq\n    return g(x[0])",
     "UnsupportedSyntaxError", "the nested function 'sq' used as a value"),
    ("class", "def f(x):\n    class A:\n        pass\n    return x[0]",
     "UnsupportedSyntaxError", "a class definition is not supported"),
    ("global", "def f(x):\n    global G\n    return x[0]", "UnsupportedSyntaxError", "a 'global' statement is not supported"),
    ("del", "def f(x):\n    y = x[0]\n    del y\n    return x[1]", "UnsupportedSyntaxError", "a 'del' statement is not supported"),
    ("import", "def f(x):\n    import math\n    return math.sin(x[0])",
     "UnsupportedSyntaxError", "an import inside the function is not supported"),
    ("list comprehension", "def f(x):\n    return np.sum(np.array([v * v for v in x]))",
     "UnsupportedSyntaxError", "a list comprehension is not supported"),
    ("generator expression", "def f(x):\n    return sum(v * v for v in x)",
     "UnsupportedSyntaxError", "a generator expression is not supported"),
    ("dict", "def f(x):\n    d = {'a': x[0]}\n    return d['a']", "UnsupportedSyntaxError", "a dict is not supported"),
    ("star", "def f(x):\n    return np.hypot(*x)", "UnsupportedSyntaxError", "*args unpacking is not supported"),
    ("match", "def f(x):\n    match x.shape[0]:\n        case 2:\n            return x[0]\n    return x[1]",
     "UnsupportedSyntaxError", "a 'match' statement is not supported"),
    ("walrus", "def f(x):\n    if (y := x[0]) > 0:\n        return y\n    return x[1]",
     "UnsupportedSyntaxError", "an assignment expression (:=) is not supported"),
    ("loop else", "def f(x):\n    s = 0.0\n    for v in x:\n        s += v\n    else:\n        s += 1.0\n    return s",
     "UnsupportedSyntaxError", "a loop with an 'else' clause is not supported"),
    ("attribute", "def f(x):\n    x.flags.writeable = False\n    return x[0]",
     "UnsupportedSyntaxError", "assigning to an attribute (object mutation) is not supported"),
    ("f-string", "def f(x):\n    s = f'{x[0]}'\n    return x[0]", "UnsupportedSyntaxError", "an f-string is not supported"),
    ("no return", "def f(x):\n    y = x[0]", "UnsupportedSyntaxError", "a function without a return value: f has no 'return'"),
    ("falls off", "def f(x):\n    if x[0] > 0:\n        return x[0]",
     "UnsupportedSyntaxError", "f can reach its end without returning a value"),
    ("unused", "def f(x):\n    np.sin(x)\n    return x[0]",
     "UnsupportedSyntaxError", "a statement whose value is unused (a call for its side effect)"),
    ("list", "def f(x):\n    v = [[x[0]], [x[1]]]\n    return v[0][0]",
     "UnsupportedSyntaxError", "a list of lists or tuples"),
    ("loop variable", "def f(x):\n    s = 0.0\n    for i in range(3):\n        i = 2\n        s += x[i]\n    return s",
     "UnsupportedSyntaxError", "the loop variable 'i' is reassigned inside the loop"),
    ("global array write", "BUF = np.zeros(2)\ndef f(x):\n    BUF[0] = x[0]\n    return BUF[0]",
     "UnsupportedSyntaxError", "an in-place write into something other than a local array"),
    ("kwargs", "def f(x, **options):\n    return x[0]", "UnsupportedSyntaxError", "f takes *args or **kwargs"),
    ("keyword-only", "def f(x, *, scale=1.0):\n    return scale * x[0]",
     "UnsupportedSyntaxError", "f has keyword-only or positional-only parameters"),
    ("recursion", "def f(x, n):\n    if n == 0:\n        return x[0]\n    return f(x, n - 1) * x[0]",
     "UnsupportedSyntaxError", "f calls itself (recursion: f -> f), which adflow cannot differentiate"),
    ("mutual recursion", "def f(x, n):\n    if n == 0:\n        return x[0]\n    return g(x, n - 1)\n"
     "def g(x, n):\n    return f(x, n) * x[0]",
     "UnsupportedSyntaxError", "f calls itself through g (recursion: f -> g -> f), which adflow cannot differentiate"),
    ("tuple index", "def f(x, n):\n    t = (x[0] * 2.0, x[1] * 3.0)\n    return t[n - 2]",
     "NonDifferentiableError", "indexing a tuple of active values with anything but a constant integer"),
    ("no rule", "def f(x):\n    return np.sum(np.sort(x))", "NonDifferentiableError", "no derivative rule for np.sort"),
    # An argument no rule reads changes the derivative: refused, not dropped (it was dropped, and
    # np.cumsum(m, 0) had the derivative of the flattened cumsum on target="python").
    ("extra argument", "def f(x):\n    return np.linalg.norm(x, 1)", "NonDifferentiableError",
     "np.linalg.norm is called with 2 positional arguments; adflow differentiates it with 1 (x)"),
    ("write into shared memory", "def f(x):\n    v = x.T\n    v[0] = 0.0\n    return np.sum(v * v)",
     "NonDifferentiableError", "in-place write into 'v', which shares memory with 'x' (a view or alias)"),
]


def load(tmp_path, name, text):
    path = tmp_path / f"refused_{name.replace(' ', '_').replace('-', '_')}.py"
    path.write_text("import numpy as np\n\n" + textwrap.dedent(text) + "\n")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, text, kind, message", CASES, ids=[c[0] for c in CASES])
def test_a_refusal_says_what_the_supported_subset_page_quotes(tmp_path, name, text, kind, message):
    f = load(tmp_path, name, text).f
    args = (np.array([0.5, 1.5, 2.5]), 3) if f.__code__.co_argcount == 2 else (np.array([0.5, 1.5, 2.5]),)
    with pytest.raises(adflow.AdflowError) as info:
        adflow.grad(f)(*args)
    error = info.value
    assert (type(error).__name__, error.message) == (kind, message)
    assert error.location is not None and error.location.filename.endswith(f"{f.__module__}.py")
    assert f"`{message}`" in SUBSET, "docs/subset.md's table of refusals must quote the message"


def test_a_third_derivative_is_refused_as_the_page_says():
    # A transform of a derivative composes (adflow/compose.py), up to second derivatives.
    def f(x):
        return np.sum(np.sin(x))

    with pytest.raises(adflow.NonDifferentiableError) as info:
        adflow.grad(adflow.hessian(f))
    message = "adflow.grad of adflow.hessian(f) would be a third derivative, which adflow does not compute"
    assert info.value.message == message and f"`{message}`" in SUBSET
