#!/usr/bin/env python3
"""lib/'s layering, as lib/README.md states it: which folder may include which, and which folder
alone may call the kernel's BPF object, link and libxdp APIs. And the rules of DESIGN.md §5 for the
folders around the library: tools/ and examples/ use only the public API (include/ila/), bench/
uses the library's layout header (xdp/abi.h) but never tests/, and testbed/ (what tests, bench and
examples share) is built on the public API alone; the fuzzer's reference model (tests/fuzz/) uses no
xdp/ header but abi.h. Exits 1 naming every violation."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LIB = os.path.join(ROOT, "lib")
KERNEL_ONLY = re.compile(r"\b(bpf_obj_\w+|bpf_link_\w+|bpf_prog_get_fd_by_id|bpf_map_get_fd_by_id|"
                         r"xdp_program__\w+|xdp_multiprog__\w+|bpf_object__\w+)\s*\(")
MAP_CALL = re.compile(r"\bbpf_map_(lookup|update|delete|get_next_key)\w*\s*\(")
INCLUDE = re.compile(r'^#include "([a-z_]+)/([a-z_]+\.h)"', re.M)


def rules():
    text = open(os.path.join(LIB, "README.md")).read()
    section = text[text.index("May include:"):]
    out = {}
    for m in re.finditer(r"^- (\w+):(.*)$", section, re.M):
        out[m.group(1)] = m.group(2).split()
    return out


# Folders outside lib/: the xdp/ headers each may include, and whether it may use testbed/.
OUTSIDE = {
    "tools": {"xdp": set(), "testbed": False},
    "examples": {"xdp": set(), "testbed": True},
    "bench": {"xdp": {"abi.h"}, "testbed": True},
    "testbed": {"xdp": set(), "testbed": True},
}
ANY_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# CMake names that are tests/'s: its support libraries, its include directory, Catch2.
TESTS_IN_CMAKE = re.compile(r"\bila_test_support\b|\bila_test_main\b|\bCatch2\b|"
                            r"(\$\{PROJECT_SOURCE_DIR\}|\.\.)/tests\b")


def outside_problems(lib_folders):
    """Includes and CMake links of tools/, examples/, bench/ and testbed/ that break their rule."""
    problems = []
    xdp_headers = {f for f in os.listdir(os.path.join(ROOT, "xdp")) if f.endswith(".h")}
    for top, rule in OUTSIDE.items():
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in sorted(files):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)
                if f == "CMakeLists.txt":
                    for m in TESTS_IN_CMAKE.finditer(open(path).read()):
                        problems.append(f"{rel} uses {m.group(0)}: {top}/ never uses tests/")
                    continue
                if not f.endswith((".h", ".cc", ".c")):
                    continue
                for m in ANY_INCLUDE.finditer(open(path).read()):
                    inc = m.group(1)
                    first = inc.split("/")[0]
                    if first in ("support", "tests") or "../" in inc:
                        problems.append(f"{rel} includes {inc}: {top}/ never uses tests/")
                    elif first in lib_folders:
                        problems.append(f"{rel} includes {inc}, lib/'s own: {top}/ uses only "
                                        "include/ila/")
                    elif first == "testbed" and not rule["testbed"]:
                        problems.append(f"{rel} includes {inc}: {top}/ may not use testbed/")
                    elif "/" not in inc and inc in xdp_headers and inc not in rule["xdp"]:
                        problems.append(f"{rel} includes xdp/{inc}, which {top}/ may not")
    return problems


# tests/fuzz/: the reference model the programs are fuzzed against is written apart from them
# (DESIGN.md §5, "fuzz (differential vs the C++ model)"): of xdp/ it may use the layouts (abi.h)
# only, and nothing of lib/'s internals, so that a mistake in the programs cannot be shared.
FUZZ = os.path.join("tests", "fuzz")


def fuzz_problems(lib_folders):
    problems = []
    xdp_headers = {f for f in os.listdir(os.path.join(ROOT, "xdp")) if f.endswith(".h")}
    folder = os.path.join(ROOT, FUZZ)
    if not os.path.isdir(folder):
        return problems
    for f in sorted(os.listdir(folder)):
        if not f.endswith((".h", ".cc")):
            continue
        rel = os.path.join(FUZZ, f)
        for m in ANY_INCLUDE.finditer(open(os.path.join(folder, f)).read()):
            inc = m.group(1)
            name = inc[len("xdp/"):] if inc.startswith("xdp/") else inc
            if ("/" not in name and name in xdp_headers or inc.startswith("xdp/")) and \
                    name != "abi.h":
                problems.append(f"{rel} includes xdp/{name}: the fuzzer's model uses abi.h only")
            elif inc.split("/")[0] in lib_folders:
                problems.append(f"{rel} includes {inc}, lib/'s own: the fuzzer's model uses only "
                                "include/ila/")
    return problems


def main():
    allowed = rules()
    problems = []
    folders = sorted(d for d in os.listdir(LIB) if os.path.isdir(os.path.join(LIB, d)))
    for d in folders:
        if d not in allowed:
            problems.append(f"lib/{d}/ is not in lib/README.md's table")
            continue
        for f in sorted(os.listdir(os.path.join(LIB, d))):
            if not f.endswith((".h", ".cc")):
                continue
            path = os.path.join(LIB, d, f)
            text = open(path).read()
            for m in INCLUDE.finditer(text):
                folder, header = m.group(1), f"{m.group(1)}/{m.group(2)}"
                if folder not in folders or folder == d:
                    continue
                if folder not in allowed[d] and header not in allowed[d]:
                    problems.append(f"lib/{d}/{f} includes {header}, which lib/{d}/ may not")
            code = re.sub(r"//[^\n]*", "", text)
            if d != "kernel":
                for m in KERNEL_ONLY.finditer(code):
                    problems.append(f"lib/{d}/{f} calls {m.group(1)}: only lib/kernel/ may")
            if f"{d}/{f}" != "kernel/bpf_map.h":
                for m in MAP_CALL.finditer(code):
                    problems.append(f"lib/{d}/{f} calls {m.group(0).rstrip('( ')}: only "
                                    "lib/kernel/bpf_map.h may")
    problems += outside_problems(folders)
    problems += fuzz_problems(folders)
    for p in problems:
        print("layering: " + p)
    print(f"layering: {len(folders)} lib/ folders, {', '.join(OUTSIDE)} and {FUZZ} checked, "
          f"{len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
