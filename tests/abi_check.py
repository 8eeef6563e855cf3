#!/usr/bin/env python3
"""The shared library exports exactly the functions the public headers declare.

usage: abi_check.py LIBRARY INCLUDE_DIR

Every function declared in INCLUDE_DIR/evasync.h and INCLUDE_DIR/evasync/*.h
(static inline helpers excluded: they are not library symbols) must be
exported by LIBRARY, and LIBRARY must export nothing else: an internal
symbol that leaks becomes ABI someone links against.  The eva__ helpers that
task.h's macros call are declared in task.h, so they count as public.
Exits 1 and lists the differences if there are any.
"""
import pathlib
import re
import subprocess
import sys

# A declaration's first line: optional qualifiers and a return type, then the
# name and its opening parenthesis.  Function-pointer typedefs ("(*eva_fn)")
# and macros never match: the name must follow a type, not "(*".
DECLARATION = re.compile(r"^[A-Za-z_][\w\s\*]*?\b(eva_\w+)\s*\(")


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)


def declared(include_dir):
    names = set()
    headers = [include_dir / "evasync.h", *sorted((include_dir / "evasync").glob("*.h"))]
    for header in headers:
        in_macro = False
        for line in strip_comments(header.read_text()).splitlines():
            continued, in_macro = in_macro, line.rstrip().endswith("\\")
            stripped = line.strip()
            if continued or stripped.startswith(("#", "typedef", "static", "return")):
                continue
            m = DECLARATION.match(stripped)
            if m:
                names.add(m.group(1))
    return names


def exported(library):
    out = subprocess.run(["nm", "-D", "--defined-only", library], check=True,
                         capture_output=True, text=True).stdout
    return {f[2] for f in (line.split() for line in out.splitlines()) if len(f) == 3}


def main():
    library, include_dir = sys.argv[1], pathlib.Path(sys.argv[2])
    public, symbols = declared(include_dir), exported(library)
    leaked = sorted(symbols - public)
    missing = sorted(public - symbols)
    for name in leaked:
        print(f"exported but not declared in a public header: {name}")
    for name in missing:
        print(f"declared in a public header but not exported: {name}")
    print(f"declared={len(public)} exported={len(symbols)} "
          f"exported_internal={sum(s.startswith('eva__') for s in symbols)}")
    return 1 if leaked or missing else 0


if __name__ == "__main__":
    sys.exit(main())
