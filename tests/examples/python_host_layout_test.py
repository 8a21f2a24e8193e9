#!/usr/bin/env python3
"""The Python host's ctypes structures (examples/python_host/host.py) against the layout guard
generated from ep_abi.h (tests/abi/ep_abi_layout.h): same fields, same offsets, same sizes."""
import ctypes
import importlib.util
import os
import re
import sys

sys.dont_write_bytecode = True  # importing host.py must leave no __pycache__ in the source tree
here = os.path.dirname(os.path.abspath(__file__))
source = os.path.dirname(os.path.dirname(here))
spec = importlib.util.spec_from_file_location("host", os.path.join(source, "examples", "python_host", "host.py"))
host = importlib.util.module_from_spec(spec)
spec.loader.exec_module(host)

guard = open(os.path.join(source, "tests", "abi", "ep_abi_layout.h")).read()
expected = {}
for struct, field, offset in re.findall(r"offsetof\(struct (\w+), (\w+)\) == (\d+)", guard):
    expected.setdefault(struct, []).append((field, int(offset)))
sizes = dict(re.findall(r"sizeof\(struct (\w+)\) >= (\d+)", guard))

failures = []
for struct, fields in expected.items():
    mirror = host.STRUCTS.get(struct)
    if mirror is None:
        failures.append(f"{struct}: no ctypes mirror")
        continue
    actual = [(name, getattr(mirror, name).offset) for name, _ in mirror._fields_]
    if actual != fields:
        failures.append(f"{struct}: ctypes has {actual}, ep_abi.h has {fields}")
    if ctypes.sizeof(mirror) != int(sizes[struct]):
        failures.append(f"{struct}: ctypes size {ctypes.sizeof(mirror)}, ep_abi.h {sizes[struct]}")
for f in failures:
    print("FAIL:", f)
print(f"checked {sum(len(v) for v in expected.values())} fields of {len(expected)} structs")
sys.exit(1 if failures or not expected else 0)
