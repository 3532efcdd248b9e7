#!/usr/bin/env python3
"""Copies etcd's API .proto files into the build tree without their two foreign imports:
gogoproto (Go code generation options) and google.api (the grpc-gateway's HTTP bindings). Neither
changes a message, a field number, a type or an RPC, so the generated C++ speaks the same wire
format, and the build needs no gogo/googleapis protos. Exits 1, naming the file and line, if any
`gogoproto` or `google.api` text survives (a newer etcd that uses them in another form).

Usage: strip_protos.py SRC_ROOT OUT_ROOT REL_PATH...
"""
import os
import re
import sys

FOREIGN = re.compile(r"gogoproto|google\.api")


def strip_option_blocks(text, opener):
    """Removes every `option (<name>) = { ... };`, counting braces so that nested blocks such as
    `additional_bindings { ... }` go with it."""
    out = []
    pos = 0
    while True:
        m = opener.search(text, pos)
        if not m:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:m.start()])
        i = m.end()  # just past the opening brace
        depth = 1
        while depth:
            if i >= len(text):
                raise ValueError(f"unbalanced braces after offset {m.start()}")
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        semi = re.match(r"\s*;", text[i:])
        pos = i + (semi.end() if semi else 0)


def strip(text):
    text = re.sub(r'^[ \t]*import\s+"(gogoproto/[^"]*|google/api/[^"]*)"\s*;[ \t]*\n', "", text,
                  flags=re.M)
    text = strip_option_blocks(text, re.compile(r"option\s*\(\s*google\.api\.[\w.]+\s*\)\s*=\s*\{"))
    # File- and message-level options: `option (gogoproto.x) = value;`
    text = re.sub(r"^[ \t]*option\s*\(\s*gogoproto\.[\w.]+\s*\)\s*=\s*[^;]*;[ \t]*\n", "", text,
                  flags=re.M)
    # Field options: `[(gogoproto.x) = v, (gogoproto.y) = w]`, alone in their brackets.
    text = re.sub(r"\s*\[\s*\(gogoproto\.[^\]]*\]", "", text)
    # An rpc whose only option was removed keeps an empty body, which protoc accepts.
    return text


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    src_root, out_root, rels = sys.argv[1], sys.argv[2], sys.argv[3:]
    failed = False
    outputs = []
    for rel in rels:
        src = os.path.join(src_root, rel)
        try:
            with open(src) as f:
                text = f.read()
        except OSError as e:
            print(f"strip_protos: cannot read {src}: {e.strerror} "
                  "(etcd's .proto files come with golang-etcd-server-dev)", file=sys.stderr)
            return 1
        try:
            stripped = strip(text)
        except ValueError as e:
            print(f"strip_protos: {src}: {e}", file=sys.stderr)
            return 1
        for n, line in enumerate(stripped.splitlines(), 1):
            if FOREIGN.search(line):
                print(f"strip_protos: {rel}:{n} still mentions gogoproto/google.api after the strip: "
                      f"{line.strip()}", file=sys.stderr)
                failed = True
        outputs.append((os.path.join(out_root, rel), stripped))
    if failed:
        return 1
    for dst, stripped in outputs:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w") as f:
            f.write(stripped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
