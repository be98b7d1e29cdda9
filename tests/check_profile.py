#!/usr/bin/env python3
"""Checks the files of `mlpk profile` / `mlpk train --profile`: the JSON has every aggregate and the
machine's limits, and its kernel times (with the driver's) account for the profiled steps within
5%; the trace is valid trace-event JSON (the fields Perfetto and chrome://tracing require, one
named track per thread); the SVG, if given, is well-formed XML with the roofline's lines.

usage: check_profile.py PROFILE.json TRACE.json [ROOFLINE.svg] [--backends N]
"""
import json
import sys
import xml.etree.ElementTree as ET


def fail(message):
    print("FAIL", message)
    sys.exit(1)


def check_profile(path, backends):
    with open(path) as f:
        p = json.load(f)
    for key in ("layers", "batch_size", "threads", "machine", "backends"):
        if key not in p:
            fail(f"{path}: no '{key}'")
    m = p["machine"]
    for key in ("fp32_gflops_per_core", "dram_gbps_one_core", "dram_gbps_all_cores", "l2_gbps_one_core"):
        if not isinstance(m.get(key), (int, float)) or m[key] <= 0:
            fail(f"{path}: machine.{key} is {m.get(key)}")
    if backends is not None and len(p["backends"]) != backends:
        fail(f"{path}: {len(p['backends'])} backends, expected {backends}")
    for b in p["backends"]:
        name = b["backend"]
        kernels = sum(k["seconds"] for k in b["kernels"])
        total = b["total_seconds"]
        if b["steps"] < 1 or total <= 0:
            fail(f"{path}: {name} profiled {b['steps']} steps in {total} s")
        if abs(kernels - total) > 0.05 * total:
            fail(f"{path}: {name}: kernel and driver times {kernels} s do not account for the steps' {total} s")
        if abs(b["kernel_seconds"] + b["driver_seconds"] - total) > 0.05 * total:
            fail(f"{path}: {name}: kernel_seconds + driver_seconds != total_seconds")
        if b["dropped_records"] != 0:
            fail(f"{path}: {name} dropped {b['dropped_records']} records")
        ops = {k["op"] for k in b["kernels"]}
        for op in ("forward", "weight gradient", "update", "driver"):
            if op not in ops:
                fail(f"{path}: {name} has no '{op}' row")
        for k in b["kernels"]:
            for key in ("name", "phase", "kernel", "calls", "seconds", "share", "gflops", "gbps",
                        "intensity", "bound", "bound_fraction"):
                if key not in k:
                    fail(f"{path}: {name}: kernel row lacks '{key}': {k}")
            if k["op"] != "driver" and k["bound"] not in ("compute", "memory"):
                fail(f"{path}: {name}: {k['name']} bound is {k['bound']}")
        print(f"ok   {path}: {name}: {b['steps']} steps, kernels + driver {kernels:.6f} s of {total:.6f} s")
    return p


def check_trace(path):
    with open(path) as f:
        t = json.load(f)
    events = t.get("traceEvents")
    if not isinstance(events, list) or not events:
        fail(f"{path}: no traceEvents")
    named = set()
    used = set()
    for e in events:
        for key in ("name", "ph", "pid", "tid"):
            if key not in e:
                fail(f"{path}: an event lacks '{key}': {e}")
        if e["ph"] == "X":
            for key in ("ts", "dur"):
                if not isinstance(e.get(key), (int, float)) or e[key] < 0:
                    fail(f"{path}: a complete event has {key} = {e.get(key)}: {e}")
            used.add((e["pid"], e["tid"]))
        elif e["ph"] == "M":
            if "name" not in e.get("args", {}):
                fail(f"{path}: a metadata event without args.name: {e}")
            if e["name"] == "thread_name":
                named.add((e["pid"], e["tid"]))
        else:
            fail(f"{path}: unexpected phase {e['ph']}")
    if not used <= named:
        fail(f"{path}: tracks without a thread_name: {sorted(used - named)}")
    print(f"ok   {path}: {len(events)} events on {len(used)} tracks")


def check_svg(path):
    root = ET.parse(path).getroot()
    if not root.tag.endswith("svg"):
        fail(f"{path}: the root is {root.tag}")
    text = " ".join(e.text or "" for e in root.iter())
    for word in ("peak", "DRAM", "intensity"):
        if word not in text:
            fail(f"{path}: no '{word}' in the roofline")
    print(f"ok   {path}")


def main():
    args = sys.argv[1:]
    backends = None
    if "--backends" in args:
        i = args.index("--backends")
        backends = int(args[i + 1])
        del args[i:i + 2]
    check_profile(args[0], backends)
    check_trace(args[1])
    if len(args) > 2:
        check_svg(args[2])


if __name__ == "__main__":
    main()
