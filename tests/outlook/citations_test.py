#!/usr/bin/env python3
"""Every section citation in the repository resolves inside the repository.

Code, tests and docs cite documents as `<file>.md §N` (also `§3/§9`, `§1-5, §8`, `§6b`) and
standards as `RFC nnnn §N`. Someone who clones the project must be able to follow each one, so
this check fails when:
  - a cited `<file>.md` is not in the repository (a brief kept elsewhere, for instance), and so
    for any project document named the project's way, in capitals (`SCHEMAS.md`, `CONTRACT.md`);
  - a `microsoft-behaviour.md §N` names a section that document does not have;
  - a `§N` names no document at all (outside that document, where it means its own sections);
  - a text points into a folder outside the repository (a briefs folder beside the checkout, by a relative or an absolute path).

Usage: citations_test.py REPOSITORY_ROOT
"""

import os
import re
import sys

BEHAVIOUR_DOC = os.path.join("outlook_plugin", "docs", "microsoft-behaviour.md")
SKIPPED_DIRS = {".git", "node_modules", "__pycache__"}
TEXT_SUFFIXES = {".c", ".cc", ".cpp", ".h", ".hpp", ".py", ".sh", ".js", ".mjs", ".ts", ".md", ".txt",
                 ".cmake", ".json", ".html", ".css", ".sql", ".toml", ".yml", ".yaml"}

SECTION = r"\d+[a-z]?"
# One `§N` (or range `§N-M`) and what may stand between it and the next one of a list.
CITED = re.compile(r"§\s*(" + SECTION + r")(?:\s*[-–]\s*(" + SECTION + r"))?")
# What names the document of a `§` that ends `before`: a file or an RFC, then earlier items of the list.
OWNER = re.compile(r"(?:(RFC\s*\d+)|([\w./-]+\.md))[`'\")\]]*\s*"
                   r"(?:§\s*" + SECTION + r"(?:\s*[-–]\s*" + SECTION + r")?\s*(?:,|/|and|or)?\s*)*$")
# The project names its own documents in capitals; a public page's file name (`claims-challenge.md`) is not one.
PROJECT_DOCUMENT = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[A-Z][A-Z0-9_-]*\.md)\b")
# Folders that exist on one machine only, never in a clone.
OUTSIDE = re.compile(r"(?:\.\./|/work/)shared/")


def repository_files(root):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("build")]
        for name in files:
            if name == "CMakeLists.txt" or os.path.splitext(name)[1] in TEXT_SUFFIXES:
                yield os.path.relpath(os.path.join(folder, name), root)


def sections_of(path):
    """The section numbers of a document: headings `## 4. …` and `### 6b. …`."""
    with open(path, encoding="utf-8") as f:
        return {m.group(1) for m in re.finditer(r"^#{2,4}\s+(" + SECTION + r")\.", f.read(), re.M)}


def document_exists(root, citing_file, cited):
    if "/" in cited:
        return any(os.path.isfile(os.path.normpath(os.path.join(base, cited)))
                   for base in (root, os.path.join(root, os.path.dirname(citing_file))))
    return cited in basenames


def check_line(root, rel, number, line, problems):
    where = f"{rel}:{number}"
    for m in PROJECT_DOCUMENT.finditer(line):
        if not document_exists(root, rel, m.group(1)):
            problems.append(f"{where}: names {m.group(1)}, which is not in the repository")
    if OUTSIDE.search(line):
        problems.append(f"{where}: points outside the repository: {line.strip()}")
    for m in CITED.finditer(line):
        owner = OWNER.search(line[:m.start()])
        sections = [s for s in m.groups() if s]
        if owner and owner.group(1):
            continue  # a standard's section
        if owner:
            cited = owner.group(2)
            if not document_exists(root, rel, cited):
                problems.append(f"{where}: cites {cited}, which is not in the repository")
                continue
            if os.path.basename(cited) != os.path.basename(BEHAVIOUR_DOC):
                continue
        elif os.path.normpath(rel) != BEHAVIOUR_DOC:
            problems.append(f"{where}: §{sections[0]} names no document (write `<file>.md §N`)")
            continue
        for s in sections:
            if s not in behaviour_sections:
                problems.append(f"{where}: {os.path.basename(BEHAVIOUR_DOC)} has no section §{s}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: citations_test.py REPOSITORY_ROOT")
    root = os.path.abspath(sys.argv[1])
    files = [f for f in repository_files(root) if os.path.abspath(os.path.join(root, f)) != os.path.abspath(__file__)]
    global basenames, behaviour_sections
    basenames = {os.path.basename(f) for f in files}
    behaviour_sections = sections_of(os.path.join(root, BEHAVIOUR_DOC))
    if not behaviour_sections:
        sys.exit(f"{BEHAVIOUR_DOC} has no numbered sections (## N. Title)")
    problems = []
    for rel in files:
        try:
            with open(os.path.join(root, rel), encoding="utf-8") as f:
                lines = f.readlines()
        except (UnicodeDecodeError, OSError):
            continue  # not text: nothing cited
        for number, line in enumerate(lines, 1):
            if "§" in line or "shared/" in line or ".md" in line:
                check_line(root, rel, number, line, problems)
    for p in problems:
        print(p)
    print(f"{len(files)} files read, {len(problems)} citation problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
