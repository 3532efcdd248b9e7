#!/usr/bin/env python3
"""lib/'s layering, as lib/README.md states it: which folder may include which, and which folder
alone may call the kernel's BPF object, link and libxdp APIs. Exits 1 naming every violation."""
import os
import re
import sys

LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib")
KERNEL_ONLY = re.compile(r"\b(bpf_obj_\w+|bpf_link_\w+|bpf_prog_get_fd_by_id|xdp_program__\w+|"
                         r"xdp_multiprog__\w+|bpf_object__\w+)\s*\(")
MAP_CALL = re.compile(r"\bbpf_map_(lookup|update|delete|get_next_key)\w*\s*\(")
INCLUDE = re.compile(r'^#include "([a-z_]+)/([a-z_]+\.h)"', re.M)


def rules():
    text = open(os.path.join(LIB, "README.md")).read()
    section = text[text.index("May include:"):]
    out = {}
    for m in re.finditer(r"^- (\w+):(.*)$", section, re.M):
        out[m.group(1)] = m.group(2).split()
    return out


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
    for p in problems:
        print("layering: " + p)
    print(f"layering: {len(folders)} folders checked, {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
