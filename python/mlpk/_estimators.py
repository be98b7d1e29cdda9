"""scikit-learn estimators on mlpk's kernels: MLPClassifier and MLPRegressor.

They follow scikit-learn's estimator contract (``__init__`` stores its arguments, ``fit``
validates them and returns ``self``, learned attributes end in ``_``) and take the parameter
names of ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` where the concept is the
same, plus mlpk's ``backend`` and ``threads``. Training runs in mlpk (``mlpk.train_epoch``: the
whole epoch in C++, the GIL released); what stays in Python is what scikit-learn itself does
between epochs: labels, validation split, stopping rule.

Where they differ from scikit-learn's:
- inputs are float32 (X is converted once, as scikit-learn's ``check_array(dtype=np.float32)``);
- ``alpha`` (L2) is mlpk's weight decay ``alpha / batch_size``, which reproduces scikit-learn's
  gradient ``(X^T delta + alpha W) / batch_size`` for the weights but decays the biases too;
- weights and biases start as scikit-learn's do (uniform in +-sqrt(6 / (fan_in + fan_out)),
  +-sqrt(2 / ...) for 'logistic'), drawn in the same order from the same ``random_state``, so
  the two estimators start from the same numbers (rounded to float32);
- only the 'constant' learning rate; no 'lbfgs' solver.
"""

import numbers
import os
import tempfile
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d

from . import _mlpk

# scikit-learn's activation names, and mlpk's extra ones, to mlpk's.
_ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": "leaky-relu",
    "gelu": "gelu",
}
# Rows per forward when predicting: bounds the activations kept, whatever the size of X.
_PREDICT_BATCH = 4096


def _validate_data(estimator, *args, **kwargs):
    # scikit-learn 1.6 made the estimator method a function; 1.2 (Debian bookworm) has the method.
    try:
        from sklearn.utils.validation import validate_data
    except ImportError:
        return estimator._validate_data(*args, **kwargs)
    return validate_data(estimator, *args, **kwargs)


def _dense_float32(X):
    """The C-contiguous float32 array mlpk trains on (sparse input is densified)."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=np.float32)


class _BaseMLP(BaseEstimator):
    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"sgd", "adam"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        # mlpk's momentum is in [0, 1): at 1 the velocity never decays.
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Options(numbers.Real, {np.inf}),
        ],
        "backend": [None, str],
        "threads": [None, Interval(numbers.Integral, 0, 4096, closed="both")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        backend=None,
        threads=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.threads = threads

    # --- what subclasses define -------------------------------------------------------------
    def _loss_name(self):
        raise NotImplementedError

    def _validate_input(self, X, y, incremental, reset):
        raise NotImplementedError

    def _score(self, X, y):
        raise NotImplementedError

    # --- learned attributes that view the network ------------------------------------------
    @property
    def coefs_(self):
        """W of each layer (inputs x units): writable NumPy views of the network's weights."""
        network = self._fitted_network()
        return [network.weights(l) for l in range(network.num_layers)]

    @property
    def intercepts_(self):
        """b of each layer: writable NumPy views of the network's biases."""
        network = self._fitted_network()
        return [network.bias(l) for l in range(network.num_layers)]

    def _fitted_network(self):
        network = self.__dict__.get("_network")
        if network is None:
            # AttributeError, so hasattr(estimator, "coefs_") is False before fit.
            raise AttributeError(
                f"This {type(self).__name__} instance is not fitted yet: coefs_ and intercepts_ "
                "exist after fit"
            )
        return network

    # --- training ---------------------------------------------------------------------------
    def _hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if np.any(np.array(sizes) <= 0):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % sizes)
        return [int(s) for s in sizes]

    def _fit(self, X, y, incremental=False):
        hidden = self._hidden_layer_sizes()
        first_pass = self.__dict__.get("_network") is None or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        X = _dense_float32(X)
        y = np.asarray(y)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        Y = np.ascontiguousarray(y, dtype=np.float32)
        if not first_pass and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} outputs but this {type(self).__name__} was fitted with "
                f"{self.n_outputs_}"
            )
        self.n_outputs_ = Y.shape[1]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(X.shape[1], hidden)
        self._fit_stochastic(X, Y, incremental)
        if not np.all(np.isfinite(self._network.parameters)):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    def _initialize(self, n_features, hidden):
        layers = "-".join(str(units) for units in [n_features, *hidden, self.n_outputs_])
        # Zeroed: _initialize_as_sklearn sets every weight and bias next.
        self._network = _mlpk.Network(
            layers, backend=self.backend, hidden=_ACTIVATIONS[self.activation], loss=self._loss_name(),
            initialize=False,
        )
        if self.threads is not None:
            self._network.set_threads(self.threads)
        self._initialize_as_sklearn()
        self._optimizer = None
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(hidden) + 2
        self.out_activation_ = {
            "softmax-ce": "softmax", "sigmoid-bce": "logistic", "mse": "identity"
        }[self._loss_name()]
        self._no_improvement_count = 0
        self.loss_curve_ = []
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _initialize_as_sklearn(self):
        # scikit-learn's BaseMultilayerPerceptron._init_coef: Glorot's uniform bound, the factor
        # 2 for 'logistic', the weights then the bias of each layer from one random state.
        factor = 2.0 if self.activation == "logistic" else 6.0
        for layer in range(self._network.num_layers):
            weights, bias = self._network.weights(layer), self._network.bias(layer)
            fan_in, fan_out = weights.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            weights[...] = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            bias[...] = self._random_state.uniform(-bound, bound, fan_out)

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped"
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _make_optimizer(self, batch_size):
        # scikit-learn's L2 term adds alpha * W to the summed gradient before dividing by the
        # batch size; mlpk's gradient is already the mean, so the decay is alpha / batch size.
        decay = self.alpha / batch_size
        if self.solver == "adam":
            return _mlpk.Optimizer(
                "adam", learning_rate=self.learning_rate_init, beta1=self.beta_1,
                beta2=self.beta_2, epsilon=self.epsilon, weight_decay=decay,
            )
        if self.momentum > 0:
            kind = "nesterov" if self.nesterovs_momentum else "momentum"
            return _mlpk.Optimizer(
                kind, learning_rate=self.learning_rate_init, momentum=self.momentum, weight_decay=decay
            )
        return _mlpk.Optimizer("sgd", learning_rate=self.learning_rate_init, weight_decay=decay)

    def _weights_penalty(self, batch_size):
        # scikit-learn's reported loss includes 0.5 alpha ||W||^2 / batch size (weights only).
        squares = sum(float(np.dot(w.ravel(), w.ravel())) for w in self.coefs_)
        return 0.5 * self.alpha * squares / batch_size

    def _fit_stochastic(self, X, Y, incremental):
        early_stopping = self.early_stopping and not incremental
        X_val = y_val = None
        if early_stopping:
            stratify = Y.ravel() if is_classifier(self) and self.n_outputs_ == 1 else None
            X, X_val, Y, y_val = train_test_split(
                X, Y, random_state=self._random_state, test_size=self.validation_fraction,
                stratify=stratify,
            )
            X, Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
            y_val = self._targets_to_y(y_val)
        n_samples = X.shape[0]
        batch_size = self._batch_size(n_samples)
        if self._optimizer is None or not incremental:
            self._optimizer = self._make_optimizer(batch_size)
            self._batch_size_of_optimizer = batch_size  # its weight decay, for unpickling
        best_parameters = None
        for _ in range(self.max_iter):
            order = self._random_state.permutation(n_samples) if self.shuffle else None
            loss = _mlpk.train_epoch(self._network, self._optimizer, X, Y, batch_size, order)
            self.n_iter_ += 1
            self.loss_ = self._reported_loss(loss) + self._weights_penalty(batch_size)
            self.t_ += n_samples
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            if early_stopping:
                self.validation_scores_.append(self._score(X_val, y_val))
                if self.verbose:
                    print("Validation score: %f" % self.validation_scores_[-1])
                score = self.validation_scores_[-1]
                self._no_improvement_count = (
                    self._no_improvement_count + 1 if score < self.best_validation_score_ + self.tol else 0
                )
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best_parameters = self._network.parameters.copy()
            else:
                self._no_improvement_count = (
                    self._no_improvement_count + 1 if self.loss_ > self.best_loss_ - self.tol else 0
                )
                self.best_loss_ = min(self.best_loss_, self.loss_)
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if early_stopping else "Training loss"
                if self.verbose:
                    print(
                        "%s did not improve more than tol=%f for %d consecutive epochs. Stopping."
                        % (what, self.tol, self.n_iter_no_change)
                    )
                break
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization "
                    "hasn't converged yet." % self.max_iter,
                    ConvergenceWarning,
                )
        if best_parameters is not None:
            self._network.parameters[:] = best_parameters

    def _reported_loss(self, mlpk_loss):
        return mlpk_loss

    def _targets_to_y(self, Y):
        return Y

    def _forward(self, X, check_input=True):
        if check_input:
            X = _validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        return self._network.predict(_dense_float32(X), _PREDICT_BATCH)

    # --- pickling through the model file ----------------------------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        network = state.pop("_network", None)
        optimizer = state.pop("_optimizer", None)
        state.pop("_random_state", None)  # a fit draws it afresh from random_state
        if network is not None:
            with tempfile.TemporaryDirectory() as directory:
                path = os.path.join(directory, "model.mlpk")
                if optimizer is not None:
                    training = _mlpk.TrainingState(epoch=self.n_iter_)
                    _mlpk.save_model(path, network, optimizer=optimizer, training=training)
                else:
                    _mlpk.save_model(path, network)
                with open(path, "rb") as f:
                    state["_model_file"] = f.read()
            state["_has_optimizer_state"] = optimizer is not None
        return state

    def __setstate__(self, state):
        state = dict(state)
        model = state.pop("_model_file", None)
        has_optimizer = state.pop("_has_optimizer_state", False)
        self.__dict__.update(state)
        if model is None:
            return
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "model.mlpk")
            with open(path, "wb") as f:
                f.write(model)
            self._network = _mlpk.load_model(path, backend=self.backend)
            self._optimizer = None
            if has_optimizer:
                self._optimizer = self._make_optimizer(self._checkpoint_batch_size())
                _mlpk.resume_from(path, self._network, self._optimizer)
        if self.threads is not None:
            self._network.set_threads(self.threads)

    def _checkpoint_batch_size(self):
        # The weight decay of the optimizer depends on the batch size of the fit that made it.
        return self.__dict__.get("_batch_size_of_optimizer", 200)

    def save_model(self, path):
        """Writes the fitted network as an mlpk model file (``mlpk eval --model path`` reads it)."""
        _mlpk.save_model(os.fspath(path), self._fitted_network())


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier on mlpk's kernels (scikit-learn's parameters).

    Multi-class targets train a softmax output with cross-entropy; binary and multilabel
    targets a sigmoid output per label with binary cross-entropy, as scikit-learn's.
    """

    def _loss_name(self):
        if self.n_outputs_ == 1 or self._label_binarizer.y_type_.startswith("multilabel"):
            return "sigmoid-bce"
        return "softmax-ce"

    def _validate_input(self, X, y, incremental, reset):
        X, y = _validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, dtype=np.float32, reset=reset
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y)

    def _targets_to_y(self, Y):
        return self._label_binarizer.inverse_transform(Y if Y.shape[1] > 1 else Y.ravel())

    def _score(self, X, y):
        return accuracy_score(y, self._predict(X, check_input=False))

    def fit(self, X, y):
        """Trains on X (n_samples, n_features) and labels y; returns self."""
        self._validate_params()
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y); ``classes`` is required on the first call."""
        if self.__dict__.get("_network") is None:
            self._validate_params()
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, incremental=True)

    def _predict(self, X, check_input=True):
        y_pred = self._forward(X, check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict(self, X):
        """The predicted class of each row (of labels, for multilabel targets)."""
        check_is_fitted(self)
        return self._predict(X)

    def predict_proba(self, X):
        """Probabilities (n_samples, n_classes), in the order of ``classes_``; float64."""
        check_is_fitted(self)
        y_pred = self._forward(X).astype(np.float64)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
            return np.vstack([1 - y_pred, y_pred]).T
        if self.out_activation_ == "softmax":
            y_pred /= y_pred.sum(axis=1, keepdims=True)  # sums of float32 softmax rows are 1 to ~1e-7
        return y_pred

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _more_tags(self):
        return {"multilabel": True}


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor on mlpk's kernels: identity output, squared error."""

    def _loss_name(self):
        return "mse"

    def _reported_loss(self, mlpk_loss):
        # mlpk's squared error sums over the outputs; scikit-learn's averages over them.
        return mlpk_loss / self.n_outputs_

    def _validate_input(self, X, y, incremental, reset):
        X, y = _validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
            dtype=np.float32, reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _score(self, X, y):
        return r2_score(y, self._predict(X, check_input=False))

    def fit(self, X, y):
        """Trains on X (n_samples, n_features) and targets y (n_samples,) or (n_samples, n_outputs)."""
        self._validate_params()
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """One epoch over (X, y)."""
        if self.__dict__.get("_network") is None:
            self._validate_params()
        return self._fit(X, y, incremental=True)

    def _predict(self, X, check_input=True):
        # float64 like scikit-learn's regressors (and its estimator checks) expect; the
        # network computes in float32.
        y_pred = self._forward(X, check_input).astype(np.float64)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def predict(self, X):
        """Predicted targets, float64: (n_samples,) for one output, else (n_samples, n_outputs)."""
        check_is_fitted(self)
        return self._predict(X)

    def _more_tags(self):
        return {"multioutput": True}
