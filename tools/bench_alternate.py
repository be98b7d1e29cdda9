#!/usr/bin/env python3
"""Pairs two backends on every shape of one benchmark, alternating them run by run.

    tools/bench_alternate.py ./build/bin/mlpk_bench_kernels BM_Gemm highway onednn --rounds 5

On a shared or frequency-scaling machine the speed drifts by 5-10% over the seconds a whole
Google Benchmark run takes, and a ratio of two backends measured a few seconds apart carries that
drift. Here each shape runs A, B, B, A, A, B, ... (one process per run, `--benchmark_min_time`
each), the ratio is taken within each round, and the table gives the median of the rounds' ratios
with their range: a range that straddles 1 says the two are not told apart on this machine.

Shapes are the benchmark names after the backend (BM_Gemm/<backend>/<shape>...) that both
backends have; --shapes keeps those matching a regular expression. The environment passes through
(run it under OMP_NUM_THREADS=1 or ONEDNN_MAX_CPU_ISA=AVX2 as the tables need).
"""
import argparse
import json
import re
import statistics
import subprocess
import sys


def list_benchmarks(binary):
    out = subprocess.run([binary, "--benchmark_list_tests"], check=True, capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def literal(name):
    # Google Benchmark's filter is a POSIX extended regex: re.escape's "\-" is not one.
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", name)


def run_one(binary, name, min_time, counter):
    out = subprocess.run(
        [binary, f"--benchmark_filter=^{literal(name)}$", f"--benchmark_min_time={min_time}",
         "--benchmark_format=json"],
        check=True, capture_output=True, text=True)
    runs = json.loads(out.stdout)["benchmarks"] if out.stdout.strip() else []
    if not runs:
        sys.exit(f"bench_alternate: {name} did not run")
    if counter not in runs[0]:
        sys.exit(f"bench_alternate: {name} has no counter '{counter}' (has: {', '.join(sorted(runs[0]))})")
    return float(runs[0][counter])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("kernel", help="benchmark family, e.g. BM_Gemm or BM_TrainStep")
    parser.add_argument("a", help="backend A (the numerator), e.g. highway or highway:AVX2")
    parser.add_argument("b", help="backend B (the denominator), e.g. onednn")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.15, help="seconds a run, each")
    parser.add_argument("--counter", default="GFLOPS", help="GFLOPS, items_per_second, ...")
    parser.add_argument("--shapes", default=".*", help="regular expression the shape must match")
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit("bench_alternate: --rounds must be at least 1")

    listed = list_benchmarks(args.binary)
    names = set(listed)
    prefix_a, prefix_b = f"{args.kernel}/{args.a}/", f"{args.kernel}/{args.b}/"
    shapes = [n[len(prefix_a):] for n in listed if n.startswith(prefix_a)]  # in the binary's order
    shapes = [s for s in shapes if prefix_b + s in names and re.search(args.shapes, s)]
    if not shapes:
        sys.exit(f"bench_alternate: no shape of {args.kernel} that both {args.a} and {args.b} run")

    print(f"| {args.kernel} shape | {args.a} {args.counter} | {args.b} {args.counter} | "
          f"{args.a} / {args.b} (median of {args.rounds} rounds) | range |")
    print("|---|---|---|---|---|")
    for shape in shapes:
        a_values, b_values, ratios = [], [], []
        for r in range(args.rounds):
            order = [(prefix_a, a_values), (prefix_b, b_values)]
            if r % 2:  # B first every other round: a drift within a round favours neither
                order.reverse()
            for prefix, values in order:
                values.append(run_one(args.binary, prefix + shape, args.min_time, args.counter))
            ratios.append(a_values[-1] / b_values[-1])
        print(f"| {shape} | {statistics.median(a_values):.4g} | {statistics.median(b_values):.4g} | "
              f"{statistics.median(ratios):.3f} | {min(ratios):.2f}-{max(ratios):.2f} |", flush=True)


if __name__ == "__main__":
    main()
