#!/usr/bin/env python3
"""Edited copies of ep_abi.h, as people would edit it, for the tests of the ABI guards:

    abi_variants.py next_minor  IN OUT   the next minor done right: a field appended at the end
                                         of ep_provider_api and EP_ABI_VERSION_MINOR bumped
    abi_variants.py append_only IN OUT   the same append without the minor bump
    abi_variants.py reorder     IN OUT   get_status and disconnect swapped in ep_provider_api
    abi_variants.py retype      IN OUT   ep_provider_api.abi_minor made signed
    abi_variants.py drop_last   IN OUT   ep_provider_api's last field removed

next_minor also builds the loader test's "newer minor" plugin, so that it has the layout a
plugin built from the next release's header would have, not one invented by the test.
"""
import re
import sys


def append(text):
    end = text.index("} ep_provider_api;")
    field = ("\n    /* Appended by tests/abi/abi_variants.py: how the next minor extends the table. */\n"
             "    ep_status(EP_CALL* next_minor_probe)(ep_instance* instance);\n")
    return text[:end].rstrip(" ") + field + text[end:]


def bump_minor(text):
    return re.sub(r"(#define EP_ABI_VERSION_MINOR )(\d+)", lambda m: m.group(1) + str(int(m.group(2)) + 1), text)


def declaration(text, name):
    """The whole declaration of a function-pointer field, with the comment block above it."""
    m = re.search(r"\n((?:    /\*(?:(?!\*/).)*\*/\n)?    ep_status\(EP_CALL\* " + name + r"\)[^;]*;\n)", text, re.S)
    return m.group(1)


def reorder(text):
    a, b = declaration(text, "get_status"), declaration(text, "disconnect")
    return text.replace(a, "\0").replace(b, a).replace("\0", b)


def drop_last(text):
    """The table's last field (the paragraph before its closing brace) removed."""
    end = text.index("} ep_provider_api;")
    start = text.rindex("\n\n", 0, end) + 1
    return text[:start] + text[end:]


def retype(text):
    return text.replace("    uint16_t abi_minor;", "    int16_t abi_minor;", 1)


VARIANTS = {
    "next_minor": lambda t: bump_minor(append(t)),
    "append_only": append,
    "reorder": reorder,
    "retype": retype,
    "drop_last": drop_last,
}

if __name__ == "__main__":
    kind, src, dst = sys.argv[1:4]
    with open(src) as f:
        original = f.read()
    edited = VARIANTS[kind](original)
    if edited == original:
        sys.exit(f"abi_variants: {kind} changed nothing in {src}")
    with open(dst, "w") as f:
        f.write(edited)
