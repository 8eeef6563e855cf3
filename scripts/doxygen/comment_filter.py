#!/usr/bin/env python3
"""Doxygen INPUT_FILTER: read evasync's plain /* */ comments as doc comments.

usage: comment_filter.py HEADER   (writes the filtered header to stdout)

The headers document each declaration with the /* */ comment before it (the
rule tests/doc_coverage.py checks), which doxygen ignores.  Rather than
rewriting every header as /** */, this filter does it on the way in, keeping
every line where it was (doxygen's line numbers stay right):
  - a comment that starts a line becomes /** (it documents what follows);
  - a comment after code on the same line becomes /**< (it documents that
    member, enum constant or macro);
  - the comment a header opens with describes the file (@file);
  - the struct markers /* public: */ and /* private: */ become
    @publicsection / @privatesection, so the reference leaves private
    fields out.
"""
import re
import sys

MARKERS = {"public:": "/** @publicsection */", "private:": "/** @privatesection */"}
COMMENT = re.compile(r"/\*(?![*!])(.*?)(\*/|$)")


def filter_line(line, in_comment):
    """The line with its comment openings rewritten; whether a comment is still open."""
    out, pos = [], 0
    if in_comment:
        end = line.find("*/")
        if end < 0:
            return line, True
        out.append(line[:end + 2])
        pos = end + 2
    while True:
        start = line.find("/*", pos)
        if start < 0 or line.count('"', 0, start) % 2:  # none, or inside a string
            out.append(line[pos:])
            return "".join(out), False
        code = line[pos:start]
        out.append(code)
        m = COMMENT.match(line, start)
        body = m.group(1).strip()
        if m.group(2) and body in MARKERS:
            out.append(MARKERS[body])
        elif line[start:start + 3] in ("/**", "/*!"):
            out.append(m.group(0))
        else:
            trailing = bool("".join(out).strip())
            out.append(("/**<" if trailing else "/**") + m.group(1) + m.group(2))
        if not m.group(2):
            return "".join(out), True
        pos = m.end()


def mark_file_comment(text):
    """The header's opening comment, if any, documents the file itself."""
    end = text.find("*/")
    if not text.startswith("/*") or end < 0:
        return text
    return text[:end] + "@file */" + text[end + 2:]


def main():
    in_comment = False
    with open(sys.argv[1], encoding="utf-8") as header:
        text = mark_file_comment(header.read())
    for line in text.splitlines():
        line, in_comment = filter_line(line, in_comment)
        print(line)


if __name__ == "__main__":
    main()
