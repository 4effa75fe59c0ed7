#!/usr/bin/python3
"""ctest -R style.header_comments: library headers open with a short contract, not a
specification (issue 21). For every .h under the given folders:

- the comment lines before the first line of code (blank lines not counted) are at most
  --max-lines: what the file provides, its contract, a short example; algorithms, rationale
  and formulas belong in docs/*.md, with a one-line pointer such as
  `// Algorithm: docs/pruning.md#schedules`;
- every such pointer `docs/PAGE.md#ANCHOR` anywhere in the header names a page that exists
  and a heading of it (GitHub's anchor rule), so pointers do not rot when docs move.

Every offender is reported, not only the first. --self-test checks the checker on files it
writes to a temporary folder.

  scripts/check_header_comments.py --root . compression scheduler
"""
import argparse
import os
import re
import sys
import tempfile

POINTER = re.compile(r"docs/([A-Za-z0-9_\-]+\.md)#([A-Za-z0-9_\-]+)")


def opening_comment_lines(text):
    """Comment lines before the first line of code; blank lines are skipped, not counted."""
    count = 0
    in_block = False
    for line in text.splitlines():
        s = line.strip()
        if in_block:
            count += 1
            in_block = "*/" not in s
        elif s.startswith("//"):
            count += 1
        elif s.startswith("/*"):
            count += 1
            in_block = "*/" not in s
        elif s:
            break
    return count


def slug(heading):
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(page_text):
    """The anchors of a page's headings (outside fenced code), duplicates numbered as GitHub does."""
    seen = {}
    result = set()
    fenced = False
    for line in page_text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not m:
            continue
        a = slug(m.group(1))
        n = seen.get(a, 0)
        seen[a] = n + 1
        result.add(a if n == 0 else f"{a}-{n}")
    return result


def check(root, folders, max_lines):
    problems = []
    page_anchors = {}
    headers = 0
    for folder in folders:
        top = os.path.join(root, folder)
        if not os.path.isdir(top):
            problems.append(f"{folder}/: no such folder under {root}")
            continue
        for dirpath, _, files in os.walk(top):
            for name in sorted(files):
                if not name.endswith(".h"):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                headers += 1
                n = opening_comment_lines(text)
                if n > max_lines:
                    problems.append(f"{rel}: opens with {n} comment lines (at most {max_lines}); "
                                    "move the specification to docs/ and leave a pointer")
                for page, anchor in POINTER.findall(text):
                    if page not in page_anchors:
                        page_path = os.path.join(root, "docs", page)
                        if os.path.isfile(page_path):
                            with open(page_path, encoding="utf-8") as f:
                                page_anchors[page] = anchors(f.read())
                        else:
                            page_anchors[page] = None
                    if page_anchors[page] is None:
                        problems.append(f"{rel}: points to docs/{page}, which does not exist")
                    elif anchor not in page_anchors[page]:
                        problems.append(f"{rel}: points to docs/{page}#{anchor}, "
                                        f"which is no heading of docs/{page}")
    return headers, problems


def self_test():
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "lib", "sub"))
        os.makedirs(os.path.join(root, "docs"))
        with open(os.path.join(root, "docs", "page.md"), "w") as f:
            f.write("# Page\n\n```sh\n# not a heading\n```\n\n## Schedules (`--schedule`)\n")

        def write(rel, text):
            with open(os.path.join(root, "lib", rel), "w") as f:
                f.write(text)

        write("short.h", "// One line.\n//\n//   example();\n\n#pragma once\n// later comments are free\n"
                         "// Details: docs/page.md#schedules---schedule\n")
        write("sub/long.h", "".join(f"// line {i}\n" for i in range(9)) + "#pragma once\n")
        write("block.h", "/* a\n b\n c\n*/\n#pragma once\n")
        write("dangling.h", "// See docs/page.md#not-a-heading and docs/missing.md#x.\n#pragma once\n")
        headers, problems = check(root, ["lib"], 3)
        expected = ["block.h: opens with 4", "dangling.h: points to docs/page.md#not-a-heading",
                    "dangling.h: points to docs/missing.md", "long.h: opens with 9"]
        ok = headers == 4 and len(problems) == 4 and all(
            any(e in p for p in problems) for e in expected)
        if not ok:
            print("self-test failed:", headers, problems, file=sys.stderr)
            return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="the source tree")
    parser.add_argument("--max-lines", type=int, default=8)
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("folders", nargs="*", help="folders under --root whose headers to check")
    args = parser.parse_args()
    if args.self_test and not self_test():
        return 1
    if not args.folders:
        return 0 if args.self_test else parser.error("name at least one folder")
    headers, problems = check(args.root, args.folders, args.max_lines)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in {headers} headers under {', '.join(args.folders)}")
        return 1
    print(f"{headers} headers under {', '.join(args.folders)}: openings of at most "
          f"{args.max_lines} comment lines, every docs pointer resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
