"""Model files: the same format from Python as from the command line, in both directions."""

import json
import os
import subprocess

import numpy as np
import pytest

import mlpk

# The command line of the same build: CTest names it; from the build tree it is build/bin/mlpk.
CLI = os.environ.get("MLPK_CLI") or os.path.join(os.path.dirname(mlpk.__file__), "..", "..", "bin", "mlpk")


def labelled_csv(path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.8)
    np.savetxt(path, np.column_stack([x, labels]), delimiter=",", fmt="%.7g")
    data = np.loadtxt(path, delimiter=",", dtype=np.float32)
    return data[:, :4].copy(), data[:, 4].astype(int)


def cli(*args):
    run = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[0])


def mean_cross_entropy(probabilities, labels):
    return float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels].astype(np.float64))))


def test_save_read_load_round_trip(tmp_path):
    net = mlpk.Network("4-6-3", backend="reference", hidden="tanh")
    net.initialize(11)
    path = tmp_path / "m.mlpk"
    standardizer = mlpk.Standardizer(np.arange(4, dtype=np.float32), np.ones(4, np.float32) * 2)
    mlpk.save_model(str(path), net, standardizer=standardizer)
    model = mlpk.read_model(str(path))
    assert model.architecture == net.architecture and model.checkpoint is None
    np.testing.assert_array_equal(model.standardizer.mean, [0, 1, 2, 3])
    expected = np.concatenate([a.ravel() for l in range(2) for a in (net.weights(l), net.bias(l))])
    np.testing.assert_array_equal(model.parameters, expected)
    loaded = mlpk.load_model(path, backend="highway")  # a path-like works too
    x = np.random.default_rng(1).normal(size=(5, 4))
    np.testing.assert_allclose(loaded.forward(x), net.forward(x), rtol=1e-5)


def test_checkpoint_resumes_the_optimizer(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]
    net, opt = mlpk.Network("4-8-3", backend="reference"), mlpk.Optimizer("adam", learning_rate=0.01)
    net.initialize(2)
    mlpk.train_epoch(net, opt, x, y, 16)
    path = str(tmp_path / "c.mlpk")
    mlpk.save_model(path, net, optimizer=opt, training=mlpk.TrainingState(epoch=1, rng_state=42))
    resumed, resumed_opt = mlpk.Network("4-8-3", backend="reference"), mlpk.Optimizer("adam", learning_rate=0.01)
    training = mlpk.resume_from(path, resumed, resumed_opt)
    assert (training.epoch, training.rng_state, resumed_opt.steps) == (1, 42, 4)
    mlpk.train_epoch(net, opt, x, y, 16)
    mlpk.train_epoch(resumed, resumed_opt, x, y, 16)
    np.testing.assert_array_equal(resumed.parameters, net.parameters)
    with pytest.raises(mlpk.Error, match="optimizer and training"):
        mlpk.save_model(path, net, optimizer=opt)


def test_bad_model_files_raise_mlpk_error_naming_the_path(tmp_path):
    path = tmp_path / "bad.mlpk"
    path.write_bytes(b"MLPKMODL" + b"\x00" * 20)
    with pytest.raises(mlpk.Error, match="bad.mlpk"):
        mlpk.read_model(str(path))
    with pytest.raises(mlpk.Error, match="missing.mlpk"):
        mlpk.load_model(str(tmp_path / "missing.mlpk"))
    with pytest.raises(mlpk.Error, match="directory"):
        mlpk.save_model(str(tmp_path), mlpk.Network("2-2"))


def test_a_model_trained_by_the_cli_loads_in_python(tmp_path):
    x, labels = labelled_csv(tmp_path / "d.csv")
    model = str(tmp_path / "cli.mlpk")
    cli("train", "--train-csv", str(tmp_path / "d.csv"), "--test-csv", str(tmp_path / "d.csv"),
        "--layers", "4-8-3", "--epochs", "3", "--validation-fraction", "0", "--save", model,
        "--backend", "reference")
    evaluated = cli("eval", "--model", model, "--test-csv", str(tmp_path / "d.csv"), "--backend", "reference")
    net = mlpk.load_model(model, backend="reference")
    standardizer = mlpk.read_model(model).standardizer
    probabilities = net.forward(standardizer.apply(x))
    assert np.mean(probabilities.argmax(axis=1) == labels) == pytest.approx(evaluated["accuracy"], abs=1e-9)
    assert mean_cross_entropy(probabilities, labels) == pytest.approx(evaluated["loss"], rel=1e-5)


def test_a_model_trained_in_python_evaluates_with_the_cli(tmp_path):
    x, labels = labelled_csv(tmp_path / "d.csv", seed=3)
    net, opt = mlpk.Network("4-16-3", backend="highway"), mlpk.Optimizer("adam", learning_rate=0.01)
    net.initialize(4)
    for _ in range(30):
        mlpk.train_epoch(net, opt, x, np.eye(3, dtype=np.float32)[labels], 16)
    model = str(tmp_path / "py.mlpk")
    mlpk.save_model(model, net)
    evaluated = cli("eval", "--model", model, "--test-csv", str(tmp_path / "d.csv"))
    probabilities = net.forward(x)
    assert evaluated["accuracy"] == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels), abs=1e-9)
    assert evaluated["accuracy"] > 0.8
    assert evaluated["loss"] == pytest.approx(mean_cross_entropy(probabilities, labels), rel=1e-5)


def test_an_estimator_saves_a_model_the_cli_evaluates(tmp_path):
    x, labels = labelled_csv(tmp_path / "d.csv", seed=5)
    clf = mlpk.MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0).fit(x, labels)
    model = tmp_path / "est.mlpk"
    clf.save_model(model)
    evaluated = cli("eval", "--model", str(model), "--test-csv", str(tmp_path / "d.csv"))
    assert evaluated["accuracy"] == pytest.approx(clf.score(x, labels), abs=1e-9)
