#!/usr/bin/env python3
"""Checks the FP32 peak probe's generated code: each probe's hot loop must keep its FMA chains in
registers. A loop that spills (a memory operand anywhere in it) measures the load/store ports, not
the FMA units: with 16 AVX2 accumulators the probe read 52 GFLOP/s per core on a Zen 3 whose
register-resident loop reaches 90.

usage: check_fma_probe.py OBJDUMP LIBRARY SYMBOL:CHAINS [SYMBOL:CHAINS ...]
Each SYMBOL is a substring of a demangled function name; CHAINS the accumulators it keeps.
"""
import re
import subprocess
import sys

INSTRUCTION = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
JUMP_TARGET = re.compile(r"^([0-9a-f]+)\b")


def functions(objdump, library):
    text = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", library], check=True,
                          capture_output=True, text=True).stdout
    current, body = None, []
    for line in text.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if header:
            if current:
                yield current, body
            current, body = header.group(1), []
            continue
        m = INSTRUCTION.match(line)
        if current and m:
            # Drop objdump's "<symbol+offset>" note: a demangled name has parentheses too.
            operands = re.sub(r"\s*<.*>$", "", m.group(3))
            body.append((int(m.group(1), 16), m.group(2), operands))
    if current:
        yield current, body


def hot_loop(body):
    """The instructions between a backward jump and its target, for the loop with most FMAs."""
    best = []
    for i, (address, mnemonic, operands) in enumerate(body):
        if not mnemonic.startswith("j"):
            continue
        target = JUMP_TARGET.match(operands)
        if not target or int(target.group(1), 16) >= address:
            continue
        start = int(target.group(1), 16)
        loop = [ins for ins in body[: i + 1] if ins[0] >= start]
        if sum(ins[1].startswith("vfmadd") for ins in loop) > sum(
                ins[1].startswith("vfmadd") for ins in best):
            best = loop
    return best


def main():
    objdump, library, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
    found = dict(functions(objdump, library))
    failures = 0
    for spec in wanted:
        symbol, chains = spec.rsplit(":", 1)
        names = [name for name in found if symbol in name]
        if len(names) != 1:
            print(f"FAIL {symbol}: {len(names)} functions match ({names})")
            failures += 1
            continue
        loop = hot_loop(found[names[0]])
        fmas = [ins for ins in loop if ins[1].startswith("vfmadd")]
        memory = [ins for ins in loop if "(" in ins[2]]
        ok = len(fmas) >= int(chains) and not memory
        print(f"{'ok  ' if ok else 'FAIL'} {names[0]}: hot loop of {len(loop)} instructions, "
              f"{len(fmas)} FMAs (want >= {chains}), {len(memory)} with a memory operand")
        for address, mnemonic, operands in memory[:8]:
            print(f"     {address:x}: {mnemonic} {operands}")
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
