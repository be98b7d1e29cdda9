"""mlpk: multi-layer perceptrons on CPUs, from Python.

The low-level API mirrors the C++ one (include/mlpk/): available_backends, create_backend,
Architecture, Network, Optimizer, train_batch, train_epoch, save_model / read_model / load_model.
MLPClassifier and MLPRegressor are scikit-learn estimators on the same kernels; they import
scikit-learn on first use, so ``import mlpk`` alone does not need it.

Every failure inside mlpk raises mlpk.Error, a ValueError, carrying the C++ message.
"""

from ._mlpk import (
    Architecture,
    Backend,
    Checkpoint,
    Error,
    ModelFile,
    Network,
    Optimizer,
    Standardizer,
    TrainingState,
    __version__,
    available_backends,
    create_backend,
    default_backend_name,
    default_thread_count,
    load_backend_module,
    load_fashion_mnist,
    load_model,
    read_model,
    resume_from,
    save_model,
    train_batch,
    train_epoch,
)

Error.__module__ = "mlpk"

_ESTIMATORS = ("MLPClassifier", "MLPRegressor")

__all__ = [
    "Architecture", "Backend", "Checkpoint", "Error", "ModelFile", "Network", "Optimizer",
    "Standardizer", "TrainingState", "available_backends", "create_backend",
    "default_backend_name", "default_thread_count", "load_backend_module", "load_fashion_mnist",
    "load_model", "read_model", "resume_from", "save_model", "train_batch", "train_epoch",
    *_ESTIMATORS,
]


def __getattr__(name):
    # The estimators import scikit-learn: only when first asked for.
    if name in _ESTIMATORS:
        from . import _estimators

        return getattr(_estimators, name)
    raise AttributeError(f"module 'mlpk' has no attribute {name!r}")
