#!/usr/bin/env python3
"""Every public function, macro and type in the headers has a doc comment.

usage: doc_coverage.py INCLUDE_DIR

Reads every header under INCLUDE_DIR (evasync.h and evasync/*.h, found by
glob: new headers are checked without being listed anywhere) and lists each
public name that has no comment documenting it; exits 1 if there is one.

Public names: functions (EVA_API or static inline), macros (#define at file
level), typedef names and struct/union/enum tags.  Not public: names with a
double underscore (eva__x, EVA__X: internals the macros expand to), include
guards, struct members and enum constants (documented with their type), and
anything inside `#ifdef __cplusplus`.

A declaration is documented when, walking up from its first line through
the lines above it without crossing a blank line, a comment is reached: the
comment directly before it, or the one heading its group of declarations
(e.g. eva_now, eva_now_update, eva_time and eva_hrtime under "Time."); or
when its first line ends with a comment.  A name declared several times
(a forward typedef in several headers, a macro defined once per #if branch)
needs one documented declaration.
"""
import pathlib
import re
import sys

INTERNAL = re.compile(r"^(eva__|EVA__)")
INCLUDE_GUARD = re.compile(r"^EVASYNC(_\w+)?_H$")
DEFINE = re.compile(r"^#\s*define\s+(\w+)")
FUNCTION = re.compile(r"^(?:EVA_API\s+|static\s+inline\s+)[\w\s\*]*?\b(\w+)\s*\(")
TYPEDEF_FN = re.compile(r"^typedef\b[^(]*\(\s*\*\s*(\w+)\s*\)")
TYPEDEF = re.compile(r"^typedef\b.*?\b(\w+)\s*;")
TAG = re.compile(r"^(?:typedef\s+)?(?:struct|union|enum)\s+(\w+)\s*\{")
TYPEDEF_BODY_END = re.compile(r"^\}\s*(\w+)\s*;")


def strip_strings(line):
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', line)


class Header:
    """One header's lines, with each line classified as comment or code."""

    def __init__(self, path):
        self.path = path
        self.lines = path.read_text().splitlines()
        self.comment = [False] * len(self.lines)   # the line is inside or ends a comment
        self.trailing = [False] * len(self.lines)  # code, then a comment on the same line
        self.code = [""] * len(self.lines)         # the line without its comments
        self._split_comments()

    def _split_comments(self):
        in_comment = False
        for i, raw in enumerate(self.lines):
            line, code, pos = strip_strings(raw), [], 0
            while pos < len(line):
                if in_comment:
                    end = line.find("*/", pos)
                    self.comment[i] = True
                    if end < 0:
                        break
                    in_comment, pos = False, end + 2
                    continue
                start = line.find("/*", pos)
                if start < 0:
                    code.append(line[pos:])
                    break
                code.append(line[pos:start])
                if "".join(code).strip():
                    self.trailing[i] = True
                in_comment, pos = True, start + 2
            self.code[i] = "".join(code).rstrip()

    def documented(self, i):
        """Whether a comment reaches line i through non-blank lines above it."""
        if self.trailing[i]:
            return True
        for j in range(i - 1, -1, -1):
            if not self.lines[j].strip():
                return False
            if self.comment[j]:
                return True
        return False

    def declarations(self):
        """(name, line index) of each public declaration at file level."""
        depth = 0          # braces: inside a struct/enum body or an inline function
        in_macro = False   # continuation lines of a #define
        in_cplusplus = 0   # nesting of #if inside #ifdef __cplusplus
        for i, code in enumerate(self.code):
            stripped = code.strip()
            continued, in_macro = in_macro, code.endswith("\\")
            if continued:
                continue
            if in_cplusplus:
                if re.match(r"#\s*if", stripped):
                    in_cplusplus += 1
                elif re.match(r"#\s*endif", stripped):
                    in_cplusplus -= 1
                continue
            if re.match(r"#\s*ifdef\s+__cplusplus", stripped):
                in_cplusplus = 1
                continue
            if depth == 0:
                yield from ((name, i) for name in self._names(stripped))
            elif depth == 1:
                m = TYPEDEF_BODY_END.match(stripped)
                if m:  # "} eva_x;" closes "typedef struct eva_x {": documented above
                    yield m.group(1), self._opening(i)
            if not stripped.startswith("#"):
                depth += stripped.count("{") - stripped.count("}")

    def _opening(self, i):
        """The line that opened the body closing at line i."""
        depth = 0
        for j in range(i, -1, -1):
            depth += self.code[j].count("}") - self.code[j].count("{")
            if depth == 0:
                return j
        return i

    @staticmethod
    def _names(stripped):
        m = DEFINE.match(stripped)
        if m:
            return [] if INCLUDE_GUARD.match(m.group(1)) else [m.group(1)]
        names = []
        for pattern in (FUNCTION, TYPEDEF_FN, TAG):
            m = pattern.match(stripped)
            if m:
                names.append(m.group(1))
        if not names and "{" not in stripped:
            m = TYPEDEF.match(stripped)
            if m:
                names.append(m.group(1))
        return names


def headers(include_dir):
    return sorted(p for p in include_dir.rglob("*.h"))


def main():
    include_dir = pathlib.Path(sys.argv[1])
    seen = {}  # name -> [(header, line, documented)]
    for path in headers(include_dir):
        header = Header(path)
        for name, i in header.declarations():
            if not INTERNAL.match(name):
                seen.setdefault(name, []).append((path, i, header.documented(i)))
    missing = {n: places for n, places in seen.items() if not any(d for _, _, d in places)}
    for name, places in sorted(missing.items(), key=lambda kv: (str(kv[1][0][0]), kv[1][0][1])):
        path, i, _ = places[0]
        print(f"{path.relative_to(include_dir)}:{i + 1}: {name}: no doc comment")
    print(f"public={len(seen)} undocumented={len(missing)} "
          f"headers={len(headers(include_dir))}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
