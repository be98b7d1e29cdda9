#!/usr/bin/env python3
"""Turns Google Benchmark JSON from mlpk_bench_kernels into a Markdown table that pairs backends.

    OMP_NUM_THREADS=1 ./build/bin/mlpk_bench_kernels --benchmark_filter=BM_Gemm \
        --benchmark_format=json > gemm.json
    tools/bench_table.py gemm.json --counter GFLOPS --baseline onednn

Rows are the benchmark name without its backend (BM_Gemm/<backend>/<shape>/<op> -> <shape>/<op>),
columns the backends, plus each backend's ratio to the baseline, and % of the measured peak where
the benchmark reports it. With --benchmark_repetitions, the median aggregate is used.
"""
import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json_file")
    parser.add_argument("--counter", default="GFLOPS", help="the counter to compare (GFLOPS, GBps, items_per_second)")
    parser.add_argument("--baseline", default=None, help="backend the ratios are taken against")
    args = parser.parse_args()

    with open(args.json_file) as f:
        data = json.load(f)
    runs = data["benchmarks"]
    has_median = any(r.get("aggregate_name") == "median" for r in runs)
    values, peaks, backends, rows = {}, {}, [], []
    for r in runs:
        if has_median and r.get("aggregate_name") != "median":
            continue
        if args.counter not in r:
            continue
        name = r.get("run_name", r["name"]).replace("/real_time", "")
        parts = name.split("/")
        if len(parts) < 3:
            continue
        kernel, backend, rest = parts[0], parts[1], "/".join(parts[2:])
        key = kernel + " " + rest
        if backend not in backends:
            backends.append(backend)
        if key not in rows:
            rows.append(key)
        values[(key, backend)] = r[args.counter]
        if "peak_pct" in r:
            peaks[(key, backend)] = r["peak_pct"]

    baseline = args.baseline if args.baseline in backends else None
    header = ["benchmark"] + [f"{b} {args.counter}" for b in backends]
    if baseline:
        header += [f"{b} / {baseline}" for b in backends if b != baseline]
    if peaks:
        header += [f"{b} % peak" for b in backends]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for key in rows:
        cells = [key]
        cells += [f"{values[(key, b)]:.3g}" if (key, b) in values else "" for b in backends]
        if baseline:
            for b in backends:
                if b == baseline:
                    continue
                if (key, b) in values and (key, baseline) in values and values[(key, baseline)]:
                    cells.append(f"{values[(key, b)] / values[(key, baseline)]:.2f}")
                else:
                    cells.append("")
        if peaks:
            cells += [f"{peaks[(key, b)]:.0f}%" if (key, b) in peaks else "" for b in backends]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
