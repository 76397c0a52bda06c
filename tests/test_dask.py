"""adflow on Dask: derivative objects through pickle, and adflow.dask on Dask's schedulers and a LocalCluster.

The cluster (two worker processes, one thread each) is started once for the module and closed at
its end.  Its workers import this module to run the functions below (sent by reference); a
function made from a "notebook cell" (exec'd source with no file) is sent by value, its source
shipped with it.
"""
import doctest
import importlib
import inspect
import json
import linecache
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

dask = pytest.importorskip("dask", reason="adflow.dask needs dask: pip install 'adflow[dask]'")
da = pytest.importorskip("dask.array", reason="adflow.dask needs dask.array: pip install 'adflow[dask]'")
distributed = pytest.importorskip("distributed", reason="the cluster tests need pip install 'adflow[dask]'")
cloudpickle = pytest.importorskip("cloudpickle", reason="comes with dask")

import adflow  # noqa: E402
import adflow.dask  # noqa: E402
from adflow.testing import numerical_grad  # noqa: E402

# One pytest-xdist worker runs them all (--dist loadgroup): one cluster for the module, not one per worker.
pytestmark = pytest.mark.xdist_group("dask")

ROOT = Path(__file__).resolve().parent.parent
ROWS, FEATURES, BLOCK = 120, 3, 20  # six blocks of rows: the tree that adds them has two levels
W = np.arange(6.0).reshape(2, 3) / 6.0  # the weights of layer()


def logistic(w, X, y):
    """The logistic loss summed over the rows (labels +1 and -1)."""
    return np.sum(np.log(1.0 + np.exp(-y * (X @ w))))


def mean_logistic(w, X, y):
    return np.mean(np.log(1.0 + np.exp(-y * (X @ w))))


def layer(x, W):
    """One row in, one row out: for row-wise Jacobians."""
    return np.tanh(W @ x)


def row_logistic(x, w):
    """One row's loss: for per-row gradients."""
    return np.log(1.0 + np.exp(-np.sum(x * w)))


def with_a_with_block(w, X, y):
    total = 0.0
    with np.errstate(all="ignore"):  # adflow refuses 'with' blocks: raised on the worker that builds it
        total = np.sum((X @ w - y) ** 2)
    return total


def die_once(block, marker):
    """The block unchanged, except that the first task to get here kills its own worker process."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return block
    os._exit(1)


# A function defined the way a notebook cell defines it: exec'd source with no file behind it.  It
# is not in any importable module, so cloudpickle sends it (and its helper) by value.
CELL = "<adflow-test-cell-1>"
CELL_SOURCE = '''import numpy as np


def half_square(r):
    return 0.5 * r * r


def cell_loss(w, X, y):
    return np.sum(half_square(X @ w - y))
'''


def cell_function():
    linecache.cache[CELL] = (len(CELL_SOURCE), None, CELL_SOURCE.splitlines(True), CELL)
    namespace = {"__name__": "adflow_test_cell"}
    exec(compile(CELL_SOURCE, CELL, "exec"), namespace)
    return namespace["cell_loss"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, FEATURES))
    y = np.where(rng.standard_normal(ROWS) > 0, 1.0, -1.0)
    w = np.array([0.3, -0.2, 0.5])
    return w, X, y, da.from_array(X, chunks=(BLOCK, FEATURES)), da.from_array(y, chunks=BLOCK)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        # The workers must run this adflow, not another installed copy.
        assert set(client.run(lambda: adflow.__file__).values()) == {adflow.__file__}
        yield client


def on_scheduler(request, name):
    """Run the test on Dask's ``name`` scheduler: "threads", "processes" or "distributed" (the cluster)."""
    if name == "distributed":
        request.getfixturevalue("client")
        return dask.config.set()  # the client is the default scheduler while it is open
    return dask.config.set(scheduler=name, num_workers=2)


# --- gradients of losses over blocks of rows ------------------------------------------------------

# Each test computes adflow's result in memory first: the workers then load its code from the disk cache.

@pytest.mark.parametrize("scheduler", ["threads", "distributed"])
def test_loss_gradient_equals_adflow_in_memory_and_differences(data, request, scheduler):
    w, X, y, dX, dy = data
    expected = adflow.grad(logistic)(w, X, y)
    with on_scheduler(request, scheduler):
        got = adflow.dask.grad(logistic, split_every=2)(w, dX, dy)
    assert isinstance(got, np.ndarray) and got.shape == w.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(got, numerical_grad(logistic, (w, X, y), wrt=[0])[0], rtol=1e-6)


@pytest.mark.parametrize("scheduler", ["threads", "processes", "distributed"])
def test_mean_loss_value_and_gradients_of_parameters_and_data(data, request, scheduler):
    w, X, y, dX, dy = data
    expected_value, (expected_w, expected_X) = adflow.value_and_grad(mean_logistic, wrt=(0, 1))(w, X, y)
    with on_scheduler(request, scheduler):
        value, (g_w, g_X) = adflow.dask.value_and_grad(mean_logistic, wrt=(0, 1), reduction="mean")(w, dX, dy)
        assert isinstance(g_X, da.Array) and g_X.chunks == dX.chunks  # computed with the rest, left in Dask
        g_X = g_X.compute()
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(g_w, expected_w, rtol=1e-12)
    np.testing.assert_allclose(g_X, expected_X, rtol=1e-12)


def test_the_gradient_of_the_data_alone_stays_lazy(data):
    w, X, y, dX, dy = data
    expected = adflow.grad(logistic, wrt=1)(w, X, y)
    g_X = adflow.dask.grad(logistic, wrt=1)(w, dX, dy)  # nothing to return in memory
    assert isinstance(g_X, da.Array) and g_X.chunks == dX.chunks and type(g_X._meta) is np.ndarray
    np.testing.assert_allclose(g_X.compute(scheduler="threads"), expected, rtol=1e-12)


def test_blocks_of_other_arguments_follow_the_first(data):
    # y in blocks of 30 rows, X in blocks of 20: y is cut like X, and its gradient comes back in its
    # own blocks; an empty block adds nothing.
    w, X, y, dX, _ = data
    dy = da.from_array(np.concatenate([y, []]), chunks=((30,) * 4 + (0,),))
    dX = da.concatenate([dX, da.zeros((0, FEATURES), chunks=(0, FEATURES))])
    expected_value, (expected_w, expected_y) = adflow.value_and_grad(mean_logistic, wrt=(0, 2))(w, X, y)
    with dask.config.set(scheduler="threads"):
        value, (g_w, g_y) = adflow.dask.value_and_grad(mean_logistic, wrt=(0, 2), reduction="mean")(w, dX, dy)
        assert g_y.chunks == dy.chunks
        g_y = g_y.compute()
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(g_w, expected_w, rtol=1e-12)
    np.testing.assert_allclose(g_y, expected_y, rtol=1e-12)
    with pytest.raises(adflow.ShapeError, match="over no rows"):
        adflow.dask.grad(mean_logistic, reduction="mean")(w, dX[:0], dy[:0])


def test_options_and_arguments_are_checked_where_written(data):
    w, X, y, dX, dy = data
    with pytest.raises(adflow.ArgumentError, match="reduction must be 'sum' or 'mean'"):
        adflow.dask.grad(logistic, reduction="average")
    with pytest.raises(adflow.ArgumentError, match="pass batch=True"):
        adflow.dask.jacobian(layer)
    with pytest.raises(adflow.ArgumentError, match="needs a Dask array"):
        adflow.dask.grad(logistic)(w, X, y)
    with pytest.raises(adflow.ShapeError, match="has 60 rows"):
        adflow.dask.grad(logistic)(w, dX, dy[:60])
    with pytest.raises(adflow.ArgumentError, match="only argument 0 of layer is split"):
        adflow.dask.jacobian(layer, batch=True)(dX, da.eye(3))


# --- per-row results --------------------------------------------------------------------------------

@pytest.mark.parametrize("scheduler", ["threads", "distributed"])
def test_rowwise_jacobians_and_per_row_gradients(data, request, scheduler):
    w, X, y, dX, dy = data
    expected_J = adflow.jacobian(layer, batch=True)(X, W)
    expected_G = adflow.grad(row_logistic, batch=True)(X, w)
    if scheduler == "threads" and numba.threading_layer() == "workqueue":
        pytest.skip("numba's workqueue threading layer aborts on parallel loops started from two threads at once")
    with on_scheduler(request, scheduler):  # threads: two blocks' first calls of one derivative at once
        J = adflow.dask.jacobian(layer, batch=True)(dX, W)
        assert J.shape == (ROWS, 2, FEATURES) and J.chunks == (dX.chunks[0], (2,), (FEATURES,))
        assert type(J._meta) is np.ndarray and J.dtype == np.float64
        np.testing.assert_allclose(J.compute(), expected_J, rtol=1e-12)
        G = adflow.dask.grad(row_logistic, batch=True)(dX, w)
        assert G.chunks == dX.chunks and G.dtype == X.dtype
        np.testing.assert_allclose(G.compute(), expected_G, rtol=1e-12)
    # with every label +1, the rows' gradients are the summed loss's gradient with respect to the data
    np.testing.assert_allclose(expected_G, adflow.grad(logistic, wrt=1)(w, X, np.ones(ROWS)), rtol=1e-12)


# --- the cluster: functions sent by value, errors, a worker lost -------------------------------------

def test_function_sent_by_value_is_transformed_from_its_shipped_source(data, client):
    w, X, y, dX, dy = data
    cell_loss = cell_function()
    # The workers cannot read this source: no file, and cloudpickle renames the code's file.
    readable = client.run(lambda: bool(linecache.getlines(CELL)))
    assert not any(readable.values())
    expected = adflow.grad(cell_loss)(w, X, y)
    got = adflow.dask.grad(cell_loss)(w, dX, dy)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(got, X.T @ (X @ w - y), rtol=1e-12)


def test_an_adflow_error_in_a_block_reaches_the_client_with_the_users_line(data, client):
    w, X, y, dX, dy = data
    lines, start = inspect.getsourcelines(with_a_with_block)
    line = start + next(i for i, text in enumerate(lines) if text.lstrip().startswith("with "))
    with pytest.raises(adflow.UnsupportedSyntaxError) as raised:
        adflow.dask.grad(with_a_with_block)(w, dX, dy)
    message = str(raised.value)
    assert f"{__file__}:{line}" in message and "a 'with' block" in message
    assert message.startswith("adflow: a 'with' block") and "adflow: adflow:" not in message


@pytest.mark.slow  # the replacement worker starts, imports and loads the build: 3-30 s
def test_a_worker_killed_during_the_computation_is_replaced(data, client, tmp_path):
    w, X, y, dX, dy = data
    marker = str(tmp_path / "killed-one-worker")
    dying = dX.map_blocks(die_once, marker, meta=dX._meta)  # with meta, no call here to infer it
    got = adflow.dask.grad(logistic)(w, dying, dy)
    assert os.path.exists(marker)  # a worker did die
    np.testing.assert_allclose(got, adflow.grad(logistic)(w, X, y), rtol=1e-12)
    client.wait_for_workers(2, timeout=60)


# --- derivative objects through pickle ------------------------------------------------------------

def cubic(x):
    return np.sum(x ** 3)


# (derivative, arguments from (w, X, y)) for each kind of derivative object.  Most share their
# builds with the tests above; Hessians compile for minutes on a loaded machine: slow.
DERIVATIVES = [
    pytest.param(lambda: adflow.grad(logistic), lambda w, X, y: (w, X, y), id="grad"),
    pytest.param(lambda: adflow.value_and_grad(mean_logistic, wrt=(0, 1)), lambda w, X, y: (w, X, y),
                 id="value_and_grad"),
    pytest.param(lambda: adflow.grad(row_logistic, batch=True), lambda w, X, y: (X, w), id="grad-batch"),
    pytest.param(lambda: adflow.jacobian(logistic), lambda w, X, y: (w, X, y), id="jacobian"),
    pytest.param(lambda: adflow.jacobian(layer, batch=True), lambda w, X, y: (X, W), id="jacobian-batch"),
    pytest.param(lambda: adflow.hessian(cubic), lambda w, X, y: (w,), id="hessian", marks=pytest.mark.slow),
    pytest.param(lambda: adflow.hvp(cubic), lambda w, X, y: (w, 2 * w), id="hvp", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("pickler", [pickle, cloudpickle], ids=["pickle", "cloudpickle"])
@pytest.mark.parametrize("make, arguments", DERIVATIVES)
def test_derivative_objects_round_trip(data, make, arguments, pickler):
    w, X, y, _, _ = data
    derivative, args = make(), arguments(w, X, y)
    back = pickler.loads(pickler.dumps(derivative))
    np.testing.assert_equal(back(*args), derivative(*args))
    # one rebuilt object per process, sent on as it came (hvp is a bound method: its object)
    rebuilt = getattr(back, "__self__", back)
    assert getattr(pickler.loads(pickler.dumps(derivative)), "__self__", rebuilt) is rebuilt
    assert getattr(pickler.loads(pickler.dumps(back)), "__self__", rebuilt) is rebuilt


def test_hessians_pickle_as_their_options():
    back = pickle.loads(pickle.dumps(adflow.hessian(cubic, chunk=2)))
    assert (back.func, back.wrt, back.chunk, back.target) == (cubic, 0, 2, "cpu")
    back = cloudpickle.loads(cloudpickle.dumps(adflow.hvp(cubic, target="python")))
    assert (back.__self__.func, back.__self__.target, back.__name__) == (cubic, "python", "hvp")


def test_cuda_derivative_objects_pickle_as_their_options():
    # Built without a GPU: only the options travel, so the rebuilt object has the same ones.
    back = pickle.loads(pickle.dumps(adflow.jacobian(layer, mode="reverse", batch=True, target="cuda")))
    assert (back.mode, back.batch, back.target, back.func) == ("reverse", True, "cuda", layer)
    back = pickle.loads(pickle.dumps(adflow.value_and_grad(logistic, wrt=(0, 1), target="cuda")))
    assert (back.wrt, back.with_value, back.target) == ((0, 1), True, "cuda")


UNPICKLE = '''
import json, pickle, sys
import numpy as np
import numba
from adflow.backends import modules

shipped = open(sys.argv[1], "rb").read()
derivatives, args = pickle.loads(shipped)
again, _ = pickle.loads(shipped)
results = [d(*a).tolist() for d, a in zip(derivatives, args)]
misses = sum(sum(v.stats.cache_misses.values()) for name, m in list(sys.modules.items())
             if name.startswith("adflow_generated_") for v in vars(m).values()
             if isinstance(v, numba.core.registry.CPUDispatcher) and v.__module__ == name)
# Each generated module imported (built here, or found in the build records another process wrote).
# (Not the helpers' modules: loop nests cached on disk that any build's code may call.)
generated = [name[len(modules.MODULE_PREFIX):].rsplit("_", 1)[0] for name in list(sys.modules)
             if name.startswith(modules.MODULE_PREFIX) and not name.startswith(modules.HELPER_PREFIX)]
print(json.dumps({"results": results, "same": [a is b for a, b in zip(derivatives, again)],
                  "modules": generated, "compiled": misses}))
'''


def test_another_process_unpickles_and_computes_without_compiling_again(data, tmp_path):
    w, X, y, _, _ = data
    derivatives = [adflow.grad(logistic), adflow.grad(cell_function())]  # by reference, by value
    args = [(w, X, y)] * 2
    expected = [d(*a) for d, a in zip(derivatives, args)]  # compiles here, into the disk cache
    path = tmp_path / "derivatives.pkl"
    path.write_bytes(cloudpickle.dumps((derivatives, args)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    out = subprocess.run([sys.executable, "-c", UNPICKLE, str(path)], env=env, capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    for got, want in zip(report["results"], expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert report["same"] == [True, True]  # the second copy is the first one's derivative
    assert sorted(report["modules"]) == ["cell_loss", "logistic"]  # one build each
    assert report["compiled"] == 0  # the machine code came from the disk cache


def test_missing_dask_is_an_adflow_error_naming_the_extra():
    code = ("import sys; sys.modules['dask'] = None\n"
            "try:\n    import adflow.dask\n"
            "except ImportError as exc:\n    print(type(exc).__name__, exc)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("MissingDependencyError adflow: adflow.dask needs dask.array")
    assert "pip install 'adflow[dask]'" in out.stdout


@pytest.mark.slow  # each example compiles its own function: minutes on a loaded machine
@pytest.mark.parametrize("module", ["adflow.dask", "adflow.dask.reductions", "adflow.dask.rows", "adflow.pickling"])
def test_docstring_examples_run(module):
    with dask.config.set(scheduler="threads"):
        result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed, f"{result.failed} docstring examples of {module} failed"
