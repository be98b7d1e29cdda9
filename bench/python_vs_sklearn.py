#!/usr/bin/env python3
"""mlpk.MLPClassifier against sklearn.neural_network.MLPClassifier on Fashion-MNIST.

Same network (784-256-128-10, ReLU, softmax cross-entropy), solver (Adam, lr 0.001), batch size,
L2 alpha, epochs and seed; float32 pixels in [0, 1] for both. Prints the fit time and test
accuracy of each, and a Markdown table row. A benchmark, not a test: run it by hand,

    PYTHONPATH=build/python /usr/bin/python3 bench/python_vs_sklearn.py --epochs 10

scikit-learn's speed is NumPy's BLAS: with the reference BLAS instead of OpenBLAS (Debian's
libopenblas0-pthread) it is many times slower and the comparison means nothing, so the script
says which BLAS NumPy loaded.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

import mlpk


def blas_name():
    try:
        from threadpoolctl import threadpool_info

        libraries = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        return ", ".join(f"{i['internal_api']} ({i['num_threads']} threads)" for i in libraries) or "unknown"
    except ImportError:
        return "unknown (threadpoolctl missing)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated; each estimator fits once per seed")
    parser.add_argument("--hidden", default="256,128")
    parser.add_argument("--threads", type=int, default=None, help="mlpk's threads (default: every core)")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args()

    x_train, y_train = mlpk.load_fashion_mnist(args.data_dir, train=True)
    x_test, y_test = mlpk.load_fashion_mnist(args.data_dir, train=False)
    x_train, y_train = x_train[: args.train_samples], y_train[: args.train_samples]
    hidden = tuple(int(h) for h in args.hidden.split(","))
    seeds = [int(t) for t in args.seeds.split(",")]
    common = dict(
        hidden_layer_sizes=hidden, activation="relu", solver="adam", alpha=1e-4,
        batch_size=args.batch_size, learning_rate_init=1e-3, max_iter=args.epochs, shuffle=True,
        tol=0.0, n_iter_no_change=args.epochs + 1,  # exactly `epochs` epochs
    )
    print(f"Fashion-MNIST: {len(x_train)} training, {len(x_test)} test images; "
          f"784-{'-'.join(map(str, hidden))}-10, Adam, batch {args.batch_size}, {args.epochs} epochs, "
          f"seeds {seeds}; NumPy BLAS: {blas_name()}")

    candidates = [("mlpk", lambda seed: mlpk.MLPClassifier(**common, random_state=seed, threads=args.threads))]
    if not args.skip_sklearn:
        candidates.append(("scikit-learn", lambda seed: SkMLPClassifier(**common, random_state=seed)))
    results = {name: [] for name, _ in candidates}
    for seed in seeds:  # the estimators alternate, so that a change in the machine's load hits both
        for name, make in candidates:
            clf = make(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                clf.fit(x_train, y_train)
                seconds = time.perf_counter() - start
            accuracy = clf.score(x_test, y_test)
            results[name].append((seconds, accuracy))
            print(f"{name:>12} seed {seed}: fit {seconds:7.2f} s ({seconds / args.epochs:.3f} s/epoch), "
                  f"test accuracy {accuracy:.4f}")

    summary = {}
    for name, runs in results.items():
        times, accuracies = np.array([t for t, _ in runs]), np.array([a for _, a in runs])
        summary[name] = (np.median(times), accuracies.mean(), accuracies.std())
        print(f"{name:>12}: median fit {summary[name][0]:.2f} s, test accuracy "
              f"{summary[name][1]:.4f} +- {summary[name][2]:.4f} (mean +- std over {len(runs)} seeds)")
    if "scikit-learn" in summary:
        (mt, ma, ms), (st, sa, ss) = summary["mlpk"], summary["scikit-learn"]
        # Each seed's two fits ran back to back: their ratio sees the same state of a shared
        # machine, whose speed drifts by tens of percent within minutes.
        ratios = np.array([s[0] / m[0] for m, s in zip(results["mlpk"], results["scikit-learn"])])
        print(f"\n| | median fit | test accuracy (mean +- std) |\n|---|---|---|\n"
              f"| `mlpk.MLPClassifier` | {mt:.2f} s | {ma:.4f} +- {ms:.4f} |\n"
              f"| `sklearn.neural_network.MLPClassifier` | {st:.2f} s | {sa:.4f} +- {ss:.4f} |\n"
              f"| mlpk's speed-up (median of the seeds' ratios, range), accuracy difference | "
              f"{np.median(ratios):.1f}x ({ratios.min():.1f}-{ratios.max():.1f}) | {ma - sa:+.4f} |")


if __name__ == "__main__":
    main()
