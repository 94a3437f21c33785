#!/usr/bin/env python3
"""Independently verify an ovs-port-agent ledger (v2): python3 verify_ledger.py LEDGER"""
import hashlib
import json
import sys


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


prev, n = "0" * 64, 0
with open(sys.argv[1], encoding="utf-8", newline="\n") as ledger:
    for n, line in enumerate(ledger, 1):
        entry = json.loads(line)
        if line != canonical(entry) + "\n":
            sys.exit(f"line {n}: not canonical (or no trailing newline)")
        stored = entry.pop("hash")
        if entry["seq"] != n or entry["prev_hash"] != prev:
            sys.exit(f"line {n}: seq or prev_hash breaks the chain")
        prev = hashlib.sha256((prev + canonical(entry)).encode("utf-8")).hexdigest()
        if prev != stored:
            sys.exit(f"line {n}: hash mismatch")
print(f"OK: {n} entries, head {prev}")
