#!/usr/bin/env python3
"""The ABI baseline check: ep_abi.h against the abidw dump of the newest released version.

Builds tests/abi/abi_probe.c from HEADER_DIR as a shared library with full debug info, dumps
it with abidw and compares it with abidiff (libabigail) to RELEASE_DIR/ep_abi.abixml. Passes
when nothing changed, or when the only changes are data members appended at the end of
structs AND the header's minor version is above the release's. Anything else (a moved,
retyped or removed field, a shrunk struct, an append without a minor bump) fails, printing
abidiff's report, which names the field.

    abi_check.py HEADER_DIR RELEASE_DIR              check
    abi_check.py --write HEADER_DIR RELEASE_DIR      (re)write RELEASE_DIR/ep_abi.abixml

libabigail 2.2's suppression rule for end-appends ("has_data_member_inserted_at = end")
also hides reorders, so the verdict is read from abidiff's leaf-change report instead.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CC = os.environ.get("CC", "cc")


def run(cmd, ok=(0,)):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in ok:
        sys.exit(f"abi_check: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def version_of(header_dir):
    text = open(os.path.join(header_dir, "email_provider", "ep_abi.h")).read()
    return tuple(int(re.search(rf"^#define EP_ABI_VERSION_{p} (\d+)", text, re.M).group(1)) for p in ("MAJOR", "MINOR"))


def dump(header_dir, tmp):
    probe = os.path.join(tmp, "libep_abi_probe.so")
    run([CC, "-std=c11", "-g", "-O0", "-shared", "-fPIC", "-fvisibility=hidden", "-I", header_dir,
         os.path.join(HERE, "abi_probe.c"), "-o", probe])
    return run(["abidw", "--no-corpus-path", probe]).stdout


def refusals(leaf_report):
    """What in abidiff's leaf report is not an append at the end of a struct, with abidiff's
    own detail lines (which name the fields)."""
    problems, block, item = [], None, None
    old_size = None
    for line in leaf_report.splitlines():
        if re.match(r"^Removed/Changed/Added (functions|variables) summary: ", line):
            if not re.search(r": 0 Removed, 0 Changed, 0 Added", line):
                problems.append(line)
        elif m := re.match(r"^'(.*)' changed:$", line):
            block, old_size, item = m.group(1), None, None
        elif block is None or not line.strip():
            continue
        elif not line.startswith("   "):  # an item of the changed type's report
            text = line.strip()
            item = None
            if m := re.match(r"type size changed from (\d+) to (\d+) \(in bits\)", text):
                if int(m.group(2)) > int(m.group(1)):
                    old_size = int(m.group(1))
                    continue
            if text == "type size hasn't changed" or re.match(r"(one|\d+) impacted interfaces?:", text):
                item = "ignored"
                continue
            if re.match(r"\d+ data member insertions?:", text):
                item = "insertions"
                continue
            problems.append(f"{block}: {text}")
            item = "refused"
        elif item == "refused":
            problems[-1] += "\n      " + line.strip()
        elif item == "insertions" and (m := re.match(r"^    '(.*)', at offset (\d+) \(in bits\)", line)):
            if old_size is None or int(m.group(2)) < old_size:
                problems.append(f"{block}: {m.group(1)} inserted at bit {m.group(2)}, not at the end")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("header_dir", help="directory holding email_provider/ep_abi.h")
    ap.add_argument("release_dir", help="tests/abi/frozen/<version>")
    a = ap.parse_args()
    baseline = os.path.join(a.release_dir, "ep_abi.abixml")
    with tempfile.TemporaryDirectory() as tmp:
        current = dump(a.header_dir, tmp)
        if a.write:
            with open(baseline, "w") as f:
                f.write(current)
            return 0
        current_path = os.path.join(tmp, "current.abixml")
        with open(current_path, "w") as f:
            f.write(current)
        # abidiff's exit status: 0 no change, bit 4 (value 4) a change, bit 8 an incompatible one.
        full = run(["abidiff", baseline, current_path], ok=(0, 4, 12))
        if full.returncode == 0:
            print(f"abi_check: no ABI change against {baseline}")
            return 0
        print(full.stdout)
        leaf = run(["abidiff", "--leaf-changes-only", "--impacted-interfaces", baseline, current_path], ok=(4, 12))
        problems = refusals(leaf.stdout)
        released, now = version_of(os.path.join(a.release_dir, "include")), version_of(a.header_dir)
        if not problems and now[0] == released[0] and now[1] <= released[1]:
            problems.append(f"fields were appended but EP_ABI_VERSION_MINOR is still {now[1]}: "
                            f"bump it above {released[1]} and add a line to the VERSION HISTORY in ep_abi.h")
        if problems:
            print(f"abi_check: REFUSED: ep_abi.h {now[0]}.{now[1]} is not compatible with the released "
                  f"{released[0]}.{released[1]} ({baseline}):")
            for p in problems:
                print(f"  - {p}")
            print("Only appends at the end of a table, with a minor bump, keep released plugins and hosts working.")
            return 1
        print(f"abi_check: allowed: fields appended at the end, minor {released[1]} -> {now[1]}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
