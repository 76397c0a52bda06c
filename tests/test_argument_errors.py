"""Invalid options raise ``adflow.ArgumentError``: an adflow error (message, hint) that is also a
``ValueError``, so ``except ValueError`` written before it existed still catches them.

Options are checked when the derivative is made, not at its first call: no function here is
ever called, so nothing is compiled (and the CUDA checks need no GPU).
"""
import numpy as np
import pytest

import adflow


def square_sum(x):
    return np.sum(x * x)


def vector_out(x):
    return x * 2.0


def test_argument_error_is_exported_and_is_a_value_error():
    assert "ArgumentError" in adflow.__all__
    assert adflow.ArgumentError is adflow.errors.ArgumentError
    assert issubclass(adflow.ArgumentError, adflow.AdflowError)
    assert issubclass(adflow.ArgumentError, ValueError)


def expect_argument_error(call, *named):
    with pytest.raises(adflow.ArgumentError) as info:
        call()
    text = str(info.value)
    assert text.startswith("adflow: ") and not text.startswith("adflow: adflow:"), text
    for name in named:
        assert name in text, f"{name!r} not named in:\n{text}"
    return info.value


@pytest.mark.parametrize("make", [
    lambda: adflow.plan(4, 4, mode="sideways"),
    lambda: adflow.jacobian(vector_out, mode="sideways"),
    lambda: adflow.jacobian(vector_out, mode="sideways", target="cuda"),
], ids=["plan", "jacobian", "jacobian-cuda"])
def test_unknown_mode(make):
    err = expect_argument_error(make, "'sideways'", "'auto'", "'forward'", "'reverse'")
    assert err.hint


def test_unknown_sparsity_string():
    err = expect_argument_error(lambda: adflow.jacobian(vector_out, sparsity="dense"), "'dense'", "pattern")
    assert "scipy.sparse" in err.hint


def test_batch_with_sparsity():
    expect_argument_error(lambda: adflow.jacobian(vector_out, batch=True, sparsity="auto"), "batch=True", "sparsity=")


@pytest.mark.parametrize("make", [
    lambda wrt: adflow.jacobian(vector_out, wrt=wrt),
    lambda wrt: adflow.jacobian(vector_out, wrt=wrt, target="cuda"),
    lambda wrt: adflow.hessian(square_sum, wrt=wrt),
    lambda wrt: adflow.hvp(square_sum, wrt=wrt),
], ids=["jacobian", "jacobian-cuda", "hessian", "hvp"])
@pytest.mark.parametrize("wrt", ["0", 1.0, (), (0, 0), -1])
def test_wrt_is_an_index_or_a_tuple_of_them(make, wrt):
    expect_argument_error(lambda: make(wrt), "wrt", repr(wrt))


@pytest.mark.parametrize("make, what", [
    (lambda: adflow.jacobian(vector_out, wrt=(0, 1), target="cuda"), "jacobian"),
    (lambda: adflow.hvp(square_sum, wrt=(0, 1)), "hvp"),
    (lambda: adflow.jacobian(vector_out, wrt=(0, 1), batch=True), "batch="),
    (lambda: adflow.jacobian(vector_out, wrt=(0, 1), sparsity="auto"), "sparsity="),
], ids=["jacobian-cuda", "hvp", "jacobian-batch", "jacobian-sparsity"])
def test_one_wrt_where_one_is_taken(make, what):
    expect_argument_error(make, what, "(0, 1)")


def test_cuda_options():
    expect_argument_error(lambda: adflow.grad(square_sum, target="cuda", has_aux=True), "has_aux", "target='cuda'")
    expect_argument_error(lambda: adflow.grad(square_sum, wrt=(0, 1), target="cuda", batch=True), "batch=True")


def test_existing_value_error_handlers_still_catch_them():
    with pytest.raises(ValueError, match="mode must be"):
        adflow.jacobian(vector_out, mode="backward")
