"""The low-level API: backends, Network, NumPy views, optimizers, errors, threads."""

import gc
import sys
import threading
import time
import weakref

import numpy as np
import pytest

import mlpk

BACKENDS = mlpk.available_backends()


def test_every_backend_is_found_beside_the_core():
    assert {"reference", "highway"} <= set(BACKENDS)
    # MLPK_BACKEND may pin a variant ("highway:AVX2"): the default is one of the backends found.
    assert mlpk.default_backend_name().split(":")[0] in BACKENDS
    for name in BACKENDS:
        backend = mlpk.create_backend(name)
        assert backend.name == name
        assert backend.supports("relu")


def test_a_backend_variant_pins_a_target():
    variants = mlpk.create_backend("highway").variants
    assert variants, "highway lists its SIMD targets"
    assert variants[-1] in mlpk.create_backend("highway:" + variants[-1]).description


def test_unknown_backend_is_an_mlpk_error_that_is_a_value_error():
    with pytest.raises(mlpk.Error, match=r"unknown backend 'nope' \(available: .*reference"):
        mlpk.create_backend("nope")
    assert issubclass(mlpk.Error, ValueError)
    assert mlpk.Error.__module__ == "mlpk"


# --- gradients ------------------------------------------------------------------------------
def numpy_gradients(net, x, y):
    """Backprop of DESIGN.md's formulas in float64 NumPy, sharing nothing with mlpk's kernels."""
    arch = net.architecture
    w = [net.weights(l).astype(np.float64) for l in range(net.num_layers)]
    b = [net.bias(l).astype(np.float64) for l in range(net.num_layers)]
    acts = [g for _, g in arch.layers]
    fns = {
        "identity": (lambda z: z, lambda z: np.ones_like(z)),
        "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
        "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(np.float64)),
        "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    }
    a, zs, inputs = x.astype(np.float64), [], []
    for l in range(len(w)):
        inputs.append(a)
        z = a @ w[l] + b[l]
        zs.append(z)
        if acts[l] == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
        else:
            a = fns[acts[l]][0](z)
    n = x.shape[0]
    if arch.loss in ("softmax-ce", "sigmoid-bce"):
        dz = (a - y) / n
    else:
        dz = (a - y) / n * fns[acts[-1]][1](zs[-1])
    dws, dbs = [None] * len(w), [None] * len(w)
    for l in reversed(range(len(w))):
        dws[l], dbs[l] = inputs[l].T @ dz, dz.sum(axis=0)
        if l > 0:
            dz = (dz @ w[l].T) * fns[acts[l - 1]][1](zs[l - 1])
    return dws, dbs


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "layers,hidden,loss",
    [("5-7-3", "tanh", "softmax-ce"), ("4-6-5-2", "sigmoid", "sigmoid-bce"), ("3-9-2", "relu", "mse")],
)
def test_gradients_match_an_independent_float64_backprop(backend, layers, hidden, loss):
    net = mlpk.Network(layers, backend=backend, hidden=hidden, loss=loss)
    net.initialize(seed=7)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (17, net.architecture.inputs)).astype(np.float32)
    k = net.architecture.outputs
    y = np.eye(k, dtype=np.float32)[rng.integers(0, k, 17)] if loss != "mse" else rng.normal(size=(17, k)).astype(np.float32)
    net.forward(x)
    net.backward(y)
    dws, dbs = numpy_gradients(net, x, y)
    for l in range(net.num_layers):
        np.testing.assert_allclose(net.weight_gradient(l), dws[l], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(net.bias_gradient(l), dbs[l], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_001_gives_the_digits_the_cpp_test_asserts(backend):
    # tests/seed_examples_test.cpp, Seed001TwoLayerSigmoidWorkedExample, through Python.
    arch = mlpk.Architecture(3, [(2, "sigmoid"), (1, "sigmoid")], "mse")
    net = mlpk.Network(arch, backend)
    net.weights(0)[:] = [[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]
    net.weights(1)[:] = [[0.1], [-0.3]]
    net.bias(0)[:] = 0
    net.bias(1)[:] = 0
    net.forward([[0.5, 0.1, -0.2]])
    net.backward([[0.6]])
    np.testing.assert_allclose(-0.5 * net.weight_gradient(1).ravel(), [0.00804047, 0.00555918], atol=5e-8)
    expected_ih = [[1.77005547e-04, -5.11178506e-04], [3.54011093e-05, -1.02235701e-04],
                   [-7.08022187e-05, 2.04471402e-04]]
    np.testing.assert_allclose(-0.5 * net.weight_gradient(0), expected_ih, rtol=1e-6)
    mlpk.Optimizer("sgd", learning_rate=0.5).step(net)
    assert abs(net.weights(1)[0, 0] - (0.1 + 0.00804047)) < 1e-7


def test_every_input_type_gives_the_same_bits():
    net = mlpk.Network("4-5-3", backend="reference")
    rows = [[0.25, -1.5, 2.0, 0.125], [1.0, 0.5, -0.75, 3.0]]
    as_float32 = net.forward(np.array(rows, np.float32))
    for other in (rows, np.array(rows), np.asfortranarray(np.array(rows, np.float32)),
                  np.array(rows, np.float32)[:, ::-1][:, ::-1], np.array([[1, 2, 3, 4]], np.int64)):
        out = net.forward(other)
        if len(out) == 2:
            np.testing.assert_array_equal(out, as_float32)
    assert as_float32.dtype == np.float32 and as_float32.shape == (2, 3)


def test_float32_c_arrays_are_used_without_a_copy_and_others_converted():
    # The Network keeps the array it ran (backward reads X again): the caller's own array when
    # it is float32 C-contiguous, a converted copy otherwise.
    net = mlpk.Network("3-2", backend="reference")
    x = np.ones((4, 3), np.float32)
    before = sys.getrefcount(x)
    net.forward(x)
    assert sys.getrefcount(x) == before + 1
    x64 = np.ones((4, 3))
    before = sys.getrefcount(x64)
    net.forward(x64)
    assert sys.getrefcount(x64) == before
    assert sys.getrefcount(x) == before  # released by the next forward


def test_backward_uses_the_input_of_forward_even_when_the_caller_drops_it():
    net = mlpk.Network("3-4-2", backend="reference", hidden="tanh")
    net.initialize(1)
    x = np.random.default_rng(0).normal(size=(5, 3))
    y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1, 1]]
    net.forward(x)
    net.backward(y)
    expected = net.weight_gradient(0).copy()
    net.forward(x.tolist())  # a temporary, converted array nobody else holds
    gc.collect()
    np.zeros((1000, 1000))  # reuse freed memory
    net.backward(y)
    np.testing.assert_array_equal(net.weight_gradient(0), expected)


# --- views ----------------------------------------------------------------------------------
def test_initialize_false_leaves_every_parameter_zero():
    drawn = mlpk.Network("6-5-3", hidden="relu")
    zeroed = mlpk.Network("6-5-3", hidden="relu", initialize=False)
    assert np.count_nonzero(drawn.parameters) > 0
    assert zeroed.parameters.shape == drawn.parameters.shape
    assert not np.any(zeroed.parameters)
    zeroed.parameters[:] = drawn.parameters  # then set, it is the same network
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(2, 6)
    np.testing.assert_array_equal(zeroed.forward(x), drawn.forward(x))
    arch = mlpk.Network("6-5-3").architecture
    assert not np.any(mlpk.Network(arch, initialize=False).parameters)


def test_weight_and_bias_views_alias_the_networks_memory():
    net = mlpk.Network("3-4-2", backend="reference")
    w, b = net.weights(0), net.bias(1)
    assert w.shape == (3, 4) and b.shape == (2,) and w.dtype == np.float32
    w[:] = 0
    b[:] = [1.0, -2.0]
    w[1, 2] = 0.5
    out = net.forward([[0.0, 2.0, 0.0]])
    # layer 0: z = 2 * 0.5 at unit 2 only (relu), layer 1: W1[2] * 1 + b
    expected = net.weights(1)[2] * 1.0 + np.array([1.0, -2.0])
    e = np.exp(expected - expected.max())
    np.testing.assert_allclose(out[0], e / e.sum(), rtol=1e-6)
    # the flat parameters hold the same memory
    params = net.parameters
    assert np.shares_memory(params, w) and np.shares_memory(params, b)
    assert np.shares_memory(net.gradients, net.weight_gradient(0))
    assert net.weights(-1).shape == net.weights(1).shape


def test_weights_with_padded_rows_are_strided_views(tmp_path):
    # Rows of 512 floats (2 KiB) get a cache line of padding: W is a strided view into the
    # flat parameters, and the model file holds the unpadded values.
    net = mlpk.Network("3-512-2", backend="reference")
    net.initialize(4)
    w = net.weights(0)
    assert w.shape == (3, 512) and w.strides == (528 * 4, 4) and not w.flags.c_contiguous
    assert np.shares_memory(net.parameters, w) and net.weight_gradient(0).strides == w.strides
    w[2, 511] = 0.75
    assert net.parameters[2 * 528 + 511] == np.float32(0.75)
    assert not np.any(net.parameters[512:528]), "padding stays zero"
    path = tmp_path / "wide.mlpk"
    mlpk.save_model(str(path), net)
    expected = np.concatenate([a.ravel() for l in range(2) for a in (net.weights(l), net.bias(l))])
    np.testing.assert_array_equal(mlpk.read_model(str(path)).parameters, expected)
    np.testing.assert_array_equal(mlpk.load_model(path, backend="reference").weights(0), w)


def test_gradient_views_are_read_only_and_updated_in_place():
    net = mlpk.Network("2-3-1", backend="reference", loss="mse", hidden="tanh")
    net.initialize(2)
    g = net.weight_gradient(0)
    assert not g.flags.writeable and not net.bias_gradient(0).flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        g[0, 0] = 1
    net.forward([[1.0, 2.0]])
    net.backward([[3.0]])
    assert np.any(g != 0), "the view sees the gradients of the later backward"


def test_views_keep_the_network_alive():
    net = mlpk.Network("3-4-2", backend="reference")
    net.initialize(5)
    ref = weakref.ref(net)
    w = net.weights(0)
    copy = w.copy()
    del net
    gc.collect()
    assert ref() is not None, "the view holds the Network"
    np.zeros((2000, 2000))
    np.testing.assert_array_equal(w, copy)
    del w
    gc.collect()
    assert ref() is None, "and nothing else does"


def test_layer_index_out_of_range_is_an_index_error():
    net = mlpk.Network("3-4-2", backend="reference")
    with pytest.raises(IndexError, match="layer 2 out of range: the network has 2 layers"):
        net.weights(2)


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call,message",
    [
        (lambda n: n.forward(np.ones((2, 4), np.float32)), "X is 2x4 but the network takes 3 inputs"),
        (lambda n: n.forward(np.ones(3, np.float32)), r"forward: X must be a 2-D array .* got shape \(3,\)"),
        (lambda n: n.forward(np.zeros((0, 3), np.float32)), "has no rows"),
        (lambda n: n.forward([[1.0, float("nan"), 0.0]]), "NaN|nan|not finite"),
        (lambda n: n.backward(np.ones((1, 2), np.float32)), "before forward"),
        (lambda n: n.initialize(1, "glorot"), r"unknown init 'glorot' \(known: automatic"),
    ],
)
def test_bad_values_raise_mlpk_error_with_the_cpp_message(call, message):
    net = mlpk.Network("3-4-2", backend="reference")
    with pytest.raises(mlpk.Error, match=message):
        call(net)


def test_bad_architecture_and_options_raise_mlpk_error():
    with pytest.raises(mlpk.Error):
        mlpk.Network("3-0-2")
    with pytest.raises(mlpk.Error, match="unknown activation"):
        mlpk.Network("3-4-2", hidden="swish")
    with pytest.raises(mlpk.Error, match="learning"):
        mlpk.Optimizer("sgd", learning_rate=-1.0)
    with pytest.raises(mlpk.Error, match="optimizer"):
        mlpk.Optimizer("lbfgs")
    with pytest.raises(mlpk.Error, match="backend must be None, a name"):
        mlpk.Network("3-2", backend=3)
    with pytest.raises(TypeError):
        mlpk.Network("3-2").forward("not numbers")


def test_targets_of_the_wrong_shape_name_both_shapes():
    net = mlpk.Network("3-2", backend="reference")
    net.forward(np.ones((4, 3), np.float32))
    with pytest.raises(mlpk.Error, match="targets Y are 4x3 but the output is 4x2"):
        net.loss(np.ones((4, 3), np.float32))


# --- training -------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_train_batch_learns_xor(backend):
    net = mlpk.Network("2-8-1", backend=backend, hidden="tanh", loss="sigmoid-bce")
    net.initialize(1)
    sgd = mlpk.Optimizer("sgd", learning_rate=0.5)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    for _ in range(2000):
        mlpk.train_batch(net, sgd, x, y)
    assert sgd.steps == 2000
    np.testing.assert_array_equal(net.forward(x) > 0.5, y > 0.5)


def test_train_epoch_equals_train_batch_over_the_same_order():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 50)]
    order = rng.permutation(50)
    nets = [mlpk.Network("4-8-3", backend="reference") for _ in range(2)]
    opts = [mlpk.Optimizer("adam", learning_rate=0.01) for _ in range(2)]
    for net in nets:
        net.initialize(3)
    losses = [mlpk.train_batch(nets[0], opts[0], x[order[i:i + 16]], y[order[i:i + 16]]) for i in range(0, 50, 16)]
    mean = mlpk.train_epoch(nets[1], opts[1], x, y, 16, order)
    np.testing.assert_array_equal(nets[0].parameters, nets[1].parameters)
    sizes = [16, 16, 16, 2]
    assert mean == pytest.approx(sum(l * s for l, s in zip(losses, sizes)) / 50, rel=1e-12)
    assert len(opts[1].state) == 2 and opts[1].steps == 4


def test_train_epoch_refuses_bad_orders_and_sizes():
    net, opt = mlpk.Network("2-2", backend="reference"), mlpk.Optimizer("sgd", learning_rate=0.1)
    x, y = np.ones((4, 2), np.float32), np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    with pytest.raises(mlpk.Error, match=r"order\[1\] = 4 is not a row of X \(which has 4\)"):
        mlpk.train_epoch(net, opt, x, y, 2, np.array([0, 4]))
    with pytest.raises(mlpk.Error, match="X has 4 rows but Y has 3"):
        mlpk.train_epoch(net, opt, x, y[:3], 2)
    with pytest.raises(mlpk.Error, match="batch_size must be from 1"):
        mlpk.train_epoch(net, opt, x, y, 0)


def test_divergence_names_the_step():
    net = mlpk.Network("2-16-1", backend="reference", loss="mse", hidden="identity")
    net.initialize(1)
    opt = mlpk.Optimizer("sgd", learning_rate=1e4)
    x = np.full((8, 2), 100.0, np.float32)
    with pytest.raises(mlpk.Error, match=r"training diverged in step \d+ of 40"):
        for _ in range(20):
            mlpk.train_epoch(net, opt, np.tile(x, (10, 1)), np.ones((80, 1), np.float32), 2)


def test_the_gil_is_released_while_training():
    net = mlpk.Network("64-256-256-10", backend="highway")
    net.set_threads(1)
    opt = mlpk.Optimizer("adam")
    x = np.random.default_rng(0).normal(size=(16384, 64)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[np.arange(16384) % 10]
    done = threading.Event()
    ticks = []

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    time.sleep(0.01)
    start = time.perf_counter()
    mlpk.train_epoch(net, opt, x, y, 32)  # one call: a held GIL would stop the ticks throughout
    end = time.perf_counter()
    done.set()
    counter.join()
    during = [t for t in ticks if start < t < end]
    assert len(during) >= 5, (end - start, len(during))


def test_two_threads_sharing_a_network_take_turns():
    net = mlpk.Network("8-32-2", backend="reference")
    opt = mlpk.Optimizer("sgd", learning_rate=0.01)
    x = np.random.default_rng(1).normal(size=(256, 8)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[np.arange(256) % 2]
    errors = []

    def train():
        try:
            for _ in range(5):
                mlpk.train_epoch(net, opt, x, y, 16)
                net.forward(x[:3])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=train) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and opt.steps == 3 * 5 * 16
    assert np.all(np.isfinite(net.parameters))


def test_set_threads_does_not_change_the_result():
    results = []
    for threads in (1, 2, 3):
        net = mlpk.Network("20-64-5", backend="highway")
        net.set_threads(threads)
        assert net.threads == threads
        net.initialize(9)
        opt = mlpk.Optimizer("adam")
        x = np.random.default_rng(2).normal(size=(300, 20)).astype(np.float32)
        y = np.eye(5, dtype=np.float32)[np.arange(300) % 5]
        mlpk.train_epoch(net, opt, x, y, 64)
        results.append(net.parameters.copy())
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
