"""MLPClassifier and MLPRegressor: scikit-learn's contract, pickling, pipelines, grid search."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_estimator

import mlpk

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(x), y


# --- scikit-learn's own contract test -------------------------------------------------------
@pytest.mark.parametrize("estimator", [mlpk.MLPClassifier(), mlpk.MLPRegressor()], ids=lambda e: type(e).__name__)
def test_check_estimator(estimator):
    # Every check scikit-learn 1.2 generates runs. Two raise SkipTest inside scikit-learn
    # itself: the pandas checks (pandas is not installed) and, for the classifier, the
    # decision_function format check (there is no decision_function, as in scikit-learn's MLP).
    skipped = []
    for est, check in check_estimator(estimator, generate_only=True):
        name = getattr(check, "func", check).__name__
        try:
            check(est)
        except Exception as e:  # noqa: BLE001 - SkipTest is re-raised below when unexpected
            if type(e).__name__ != "SkipTest":
                raise
            skipped.append(name)
    allowed = {"check_classifier_data_not_an_array", "check_regressor_data_not_an_array",
               "check_classifiers_multilabel_output_format_decision_function"}
    assert set(skipped) <= allowed, skipped


# --- parameters and fitted attributes -------------------------------------------------------
def test_get_params_has_sklearns_names_and_mlpks_own():
    params = mlpk.MLPClassifier().get_params()
    for name in ("hidden_layer_sizes", "activation", "solver", "alpha", "batch_size",
                 "learning_rate_init", "max_iter", "shuffle", "random_state", "tol",
                 "early_stopping", "validation_fraction", "n_iter_no_change", "momentum",
                 "nesterovs_momentum", "beta_1", "beta_2", "epsilon", "verbose", "backend", "threads"):
        assert name in params
    clf = mlpk.MLPClassifier().set_params(alpha=0.5, backend="reference")
    assert clf.alpha == 0.5 and clone(clf).backend == "reference"


def test_fitted_attributes(iris):
    x, y = iris
    clf = mlpk.MLPClassifier(hidden_layer_sizes=(16, 8), batch_size=16, learning_rate_init=0.01,
                             max_iter=40, random_state=0)
    assert not hasattr(clf, "coefs_")
    with pytest.raises(NotFittedError):
        clf.predict(x)
    assert clf.fit(x, y) is clf
    assert list(clf.classes_) == [0, 1, 2] and clf.n_features_in_ == 4
    assert [w.shape for w in clf.coefs_] == [(4, 16), (16, 8), (8, 3)]
    assert [b.shape for b in clf.intercepts_] == [(16,), (8,), (3,)]
    assert clf.n_iter_ == 40 == len(clf.loss_curve_) and clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 3 and clf.out_activation_ == "softmax"
    proba = clf.predict_proba(x)
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(x))
    assert clf.score(x, y) > 0.9


def test_coefs_view_the_networks_weights(iris):
    x, y = iris
    clf = mlpk.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(x, y)
    before = clf.predict_proba(x)
    clf.coefs_[1][:] = 0
    clf.intercepts_[1][:] = [5.0, 0.0, 0.0]
    np.testing.assert_allclose(clf.predict_proba(x)[:, 0], np.exp(5) / (np.exp(5) + 2), rtol=1e-5)
    assert not np.allclose(before, clf.predict_proba(x))


def test_random_state_makes_fits_repeatable(iris):
    x, y = iris
    fits = [mlpk.MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=3).fit(x, y) for _ in range(2)]
    np.testing.assert_array_equal(fits[0].coefs_[0], fits[1].coefs_[0])
    other = mlpk.MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=4).fit(x, y)
    assert not np.array_equal(fits[0].coefs_[0], other.coefs_[0])


@pytest.mark.parametrize("backend", mlpk.available_backends())
def test_every_backend_learns_iris(iris, backend):
    x, y = iris
    clf = mlpk.MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100,
                             random_state=0, backend=backend, threads=1)
    assert clf.fit(x, y).score(x, y) > 0.93


def test_labels_of_any_type():
    x, y = make_classification(200, 6, n_informative=4, n_classes=3, random_state=0)
    names = np.array(["cat", "dog", "emu"])[y]
    clf = mlpk.MLPClassifier(max_iter=60, random_state=0, learning_rate_init=0.01).fit(x, names)
    assert list(clf.classes_) == ["cat", "dog", "emu"] and clf.predict(x[:3]).dtype.kind == "U"
    binary = mlpk.MLPClassifier(max_iter=60, random_state=0).fit(x, y == 1)
    assert binary.out_activation_ == "logistic" and binary.predict_proba(x).shape == (200, 2)
    assert binary.predict(x).dtype == bool
    multilabel = np.column_stack([y == 0, y == 1, y != 2]).astype(int)
    ml = mlpk.MLPClassifier(max_iter=60, random_state=0).fit(x, multilabel)
    assert ml.predict(x).shape == (200, 3) and ml.out_activation_ == "logistic"


def test_partial_fit_needs_classes_first_then_trains_one_epoch(iris):
    x, y = iris
    clf = mlpk.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        clf.partial_fit(x, y)
    clf.partial_fit(x[:50], y[:50], classes=[0, 1, 2])
    clf.partial_fit(x[50:], y[50:])
    assert clf.n_iter_ == 2 and list(clf.classes_) == [0, 1, 2]
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        clf.partial_fit(x, y + 7)


def test_early_stopping_keeps_the_best_validation_weights(iris):
    x, y = iris
    clf = mlpk.MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=3,
                             learning_rate_init=0.05, max_iter=200, random_state=0).fit(x, y)
    assert clf.n_iter_ < 200 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_stopping_on_a_flat_training_loss():
    x, y = make_classification(100, 4, random_state=0)
    clf = mlpk.MLPClassifier(hidden_layer_sizes=(4,), tol=10.0, n_iter_no_change=2, max_iter=100).fit(x, y)
    # The first epoch sets the best loss; each later one fails to improve it by tol, and the
    # count must exceed n_iter_no_change: epochs 2, 3, 4 (scikit-learn's rule).
    assert clf.n_iter_ == 4


def test_max_iter_without_convergence_warns():
    x, y = make_classification(60, 4, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        mlpk.MLPClassifier(max_iter=2, random_state=0).fit(x, y)


def test_sgd_solver_with_and_without_momentum(iris):
    x, y = iris
    for momentum, nesterov in ((0.0, False), (0.9, False), (0.9, True)):
        clf = mlpk.MLPClassifier(solver="sgd", learning_rate_init=0.1, momentum=momentum,
                                 nesterovs_momentum=nesterov, max_iter=80, random_state=0)
        assert clf.fit(x, y).score(x, y) > 0.9
        assert clf._optimizer.kind == ("sgd" if momentum == 0 else "nesterov" if nesterov else "momentum")


def test_multi_output_regression():
    x, y = make_regression(300, 5, n_targets=2, noise=0.1, random_state=0)
    reg = mlpk.MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300,
                            random_state=0).fit(x, y / 100)
    assert reg.predict(x).shape == (300, 2) and reg.predict(x).dtype == np.float64
    assert reg.score(x, y / 100) > 0.95 and reg.out_activation_ == "identity"
    single = mlpk.MLPRegressor(max_iter=20, random_state=0).fit(x, y[:, 0] / 100)
    assert single.predict(x).shape == (300,)


# --- bad parameters and inputs fail as scikit-learn's do ------------------------------------
@pytest.mark.parametrize(
    "params,message",
    [
        ({"alpha": -1}, r"The 'alpha' parameter of MLPClassifier must be a float in the range \[0, inf\). Got -1 instead."),
        ({"solver": "lbfgs"}, r"The 'solver' parameter of MLPClassifier must be a str among"),
        ({"activation": "swish"}, r"The 'activation' parameter of MLPClassifier must be a str among"),
        ({"batch_size": 0}, r"The 'batch_size' parameter of MLPClassifier must be a str among \{'auto'\} or an int"),
        ({"max_iter": 0}, r"The 'max_iter' parameter"),
        ({"momentum": 1.0}, r"The 'momentum' parameter of MLPClassifier must be a float in the range \[0, 1\). Got 1.0 instead."),
        ({"threads": -1}, r"The 'threads' parameter"),
        ({"backend": 3}, r"The 'backend' parameter"),
    ],
)
def test_invalid_parameters_raise_sklearns_invalid_parameter_error(iris, params, message):
    x, y = iris
    with pytest.raises(InvalidParameterError, match=message):
        mlpk.MLPClassifier(**params).fit(x, y)
    assert issubclass(InvalidParameterError, ValueError)


def test_bad_hidden_layer_sizes_and_backend_names(iris):
    x, y = iris
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must be > 0, got \[10, 0\]."):
        mlpk.MLPClassifier(hidden_layer_sizes=(10, 0)).fit(x, y)
    with pytest.raises(mlpk.Error, match="unknown backend 'gpu'"):
        mlpk.MLPClassifier(backend="gpu").fit(x, y)


def test_bad_inputs_get_sklearns_messages(iris):
    x, y = iris
    clf = mlpk.MLPClassifier(max_iter=3).fit(x, y)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4 features as input"):
        clf.predict(x[:, :3])
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        mlpk.MLPClassifier().fit(bad, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        mlpk.MLPClassifier().fit(x, y + 0.5)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        mlpk.MLPRegressor().fit(x, y[:10])


# --- pickling, copies, pipelines, model selection -------------------------------------------
def test_pickle_round_trips_through_the_model_file(iris):
    x, y = iris
    clf = mlpk.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(x, y)
    data = pickle.dumps(clf)
    assert b"MLPKMODL" in data, "the network travels as its model file"
    restored = pickle.loads(data)
    np.testing.assert_array_equal(restored.predict_proba(x), clf.predict_proba(x))
    assert restored.loss_curve_ == clf.loss_curve_
    # the optimizer state travels too: one more epoch on each gives the same weights
    restored.partial_fit(x, y)
    clf.partial_fit(x, y)
    np.testing.assert_array_equal(restored.coefs_[0], clf.coefs_[0])
    assert not np.shares_memory(copy.deepcopy(clf).coefs_[0], clf.coefs_[0])
    unfitted = pickle.loads(pickle.dumps(mlpk.MLPRegressor(alpha=0.3)))
    assert unfitted.alpha == 0.3 and not hasattr(unfitted, "coefs_")


def test_pipeline_and_cross_val_score(iris):
    x, y = iris
    pipe = make_pipeline(StandardScaler(), mlpk.MLPClassifier(hidden_layer_sizes=(16,), max_iter=100,
                                                              learning_rate_init=0.01, random_state=0))
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85


def test_grid_search(iris):
    x, y = iris
    search = GridSearchCV(
        mlpk.MLPClassifier(max_iter=60, learning_rate_init=0.01, random_state=0),
        {"hidden_layer_sizes": [(4,), (16,)], "alpha": [1e-4, 1e-2]}, cv=3,
    ).fit(x, y)
    assert set(search.best_params_) == {"hidden_layer_sizes", "alpha"}
    assert search.best_score_ > 0.85 and search.best_estimator_.predict(x).shape == (150,)


def test_verbose_prints_sklearns_lines(iris, capsys):
    x, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlpk.MLPClassifier(max_iter=2, verbose=True, random_state=0).fit(x, y)
    assert "Iteration 1, loss = " in capsys.readouterr().out


# --- the same starting point as scikit-learn --------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "logistic"])
@pytest.mark.parametrize("estimator", ["MLPClassifier", "MLPRegressor"])
def test_initial_weights_are_sklearns(iris, estimator, activation):
    # One epoch of SGD at a negligible learning rate leaves both estimators where they started:
    # the coefficients must be scikit-learn's draws from the same random_state, to float32.
    from sklearn import neural_network

    x, y = iris
    params = dict(hidden_layer_sizes=(7, 5), activation=activation, solver="sgd",
                  learning_rate_init=1e-12, momentum=0.0, alpha=0.0, max_iter=1, random_state=3)
    ours = getattr(mlpk, estimator)(**params).fit(x, y)
    theirs = getattr(neural_network, estimator)(**params).fit(x, y)
    assert len(ours.coefs_) == len(theirs.coefs_) == 3
    for w, w_sk, b, b_sk in zip(ours.coefs_, theirs.coefs_, ours.intercepts_, theirs.intercepts_):
        np.testing.assert_allclose(w, w_sk, rtol=0, atol=1e-6)
        np.testing.assert_allclose(b, b_sk, rtol=0, atol=1e-6)
