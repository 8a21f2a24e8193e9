#!/usr/bin/env python3
"""The ABI guards must fail on the edits they exist to stop: copies of ep_abi.h with two fields
swapped, a field retyped or removed, or a field appended without a minor bump (abi_variants.py) are
refused by the released layout guard and by the abidiff baseline check, each naming the field;
a correct next minor passes both.  Run by CTest (tests/CMakeLists.txt)."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
HEADER = os.path.join(SOURCE, "plugin_api", "include", "email_provider", "ep_abi.h")
# The newest release, as tests/CMakeLists.txt picks the abidiff baseline.
NEWEST = max(os.listdir(os.path.join(HERE, "frozen")), key=lambda v: tuple(int(p) for p in v.split(".")) if v[0].isdigit() else ())
RELEASE = os.path.join(HERE, "frozen", NEWEST)
NEXT_MINOR = int(NEWEST.split(".")[1]) + 1
CC = os.environ.get("CC", "cc")


class Variant:
    """An edited copy of today's ep_abi.h in a temporary include directory."""

    def __init__(self, test, kind):
        tmp = tempfile.TemporaryDirectory()
        test.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        os.makedirs(os.path.join(self.dir, "email_provider"))
        subprocess.run([sys.executable, os.path.join(HERE, "abi_variants.py"), kind, HEADER,
                        os.path.join(self.dir, "email_provider", "ep_abi.h")], check=True)

    def compile_released_layout_guard(self):
        """The released layout guard against this header, as tests/CMakeLists.txt builds it."""
        return subprocess.run([CC, "-std=c11", "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                               "-I", self.dir, "-iquote", RELEASE, os.path.join(HERE, "frozen", "layout_check.c")],
                              capture_output=True, text=True)

    def abi_check(self):
        return subprocess.run([sys.executable, os.path.join(HERE, "abi_check.py"), self.dir, RELEASE],
                              capture_output=True, text=True)


class LayoutGuard(unittest.TestCase):
    def test_refuses_two_fields_swapped_naming_them(self):
        r = Variant(self, "reorder").compile_released_layout_guard()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"ep_provider_api.get_status: ABI {NEWEST} has it at offset 48", r.stderr)
        self.assertIn(f"ep_provider_api.disconnect: ABI {NEWEST} has it at offset 56", r.stderr)

    def test_refuses_a_retyped_field_naming_it(self):
        r = Variant(self, "retype").compile_released_layout_guard()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"ep_provider_api.abi_minor: ABI {NEWEST} has it 2 bytes of type uint16_t", r.stderr)

    def test_refuses_a_removed_field_naming_it(self):
        r = Variant(self, "drop_last").compile_released_layout_guard()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ep_provider_api.get_sending_limits", r.stderr)
        self.assertRegex(r.stderr, r"no member named .?get_sending_limits")

    def test_accepts_the_next_minor(self):
        r = Variant(self, "next_minor").compile_released_layout_guard()
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_generated_guard_goes_out_of_date_with_the_header(self):
        v = Variant(self, "next_minor")
        r = subprocess.run([sys.executable, os.path.join(SOURCE, "plugin_api", "tools", "abi_layout.py"), "--check",
                            os.path.join(v.dir, "email_provider", "ep_abi.h"), os.path.join(HERE, "ep_abi_layout.h")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("+EP_LAYOUT_ASSERT(offsetof(struct ep_provider_api, next_minor_probe) == 104", r.stdout)


class AbidiffBaseline(unittest.TestCase):
    def test_refuses_two_fields_swapped_naming_them(self):
        r = Variant(self, "reorder").abi_check()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("REFUSED", r.stdout)
        self.assertRegex(r.stdout, r"get_status' offset changed from 384 to 448")

    def test_refuses_a_retyped_field_naming_it(self):
        r = Variant(self, "retype").abi_check()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("ep_provider_api::abi_minor", r.stdout)

    def test_refuses_a_removed_field_naming_it(self):
        r = Variant(self, "drop_last").abi_check()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("1 data member deletion", r.stdout)
        self.assertIn("get_sending_limits", r.stdout)

    def test_refuses_an_append_without_a_minor_bump(self):
        r = Variant(self, "append_only").abi_check()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"EP_ABI_VERSION_MINOR is still {NEXT_MINOR - 1}", r.stdout)

    def test_allows_an_append_at_the_end_with_a_minor_bump(self):
        r = Variant(self, "next_minor").abi_check()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"allowed: fields appended at the end, minor {NEXT_MINOR - 1} -> {NEXT_MINOR}", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
