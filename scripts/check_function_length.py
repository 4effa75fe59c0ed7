#!/usr/bin/env python3
"""Lists the functions of tamp's library code longer than a limit; exits 1 when any is.

    scripts/check_function_length.py [--max 80] [--root .] [folder ...]

A function's length runs from the first line of its declaration (template line included) to
its closing brace. Kernels (autograd/kernels/) are exempt: their long loops are unrolled on
purpose. The scan blanks comments, string and character literals and preprocessor lines, then
matches braces; a brace opened at namespace or class scope after a parameter list opens a
function body, and lambdas inside a function count towards that function.
"""

import argparse
import pathlib
import re
import sys

LIBRARY_FOLDERS = ["autograd", "nn", "io", "compression", "scheduler", "cli"]
EXEMPT = ["autograd/kernels/"]


def blank_non_code(text):
    """Replaces comments, literals and preprocessor lines with spaces, keeping newlines."""
    out = []
    i, n = 0, len(text)
    at_line_start = True

    def blank(chunk):
        return re.sub(r"[^\n]", " ", chunk)

    while i < n:
        c = text[i]
        if at_line_start and c == "#":
            end = i
            while True:  # a directive runs on over backslash-continued lines
                nl = text.find("\n", end)
                if nl == -1:
                    end = n
                    break
                if text[nl - 1] == "\\":
                    end = nl + 1
                    continue
                end = nl
                break
            out.append(blank(text[i:end]))
            i = end
            continue
        if c == "\n":
            at_line_start = True
            out.append(c)
            i += 1
            continue
        if c in " \t":
            out.append(c)
            i += 1
            continue
        at_line_start = False
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(blank(text[i:end]))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(blank(text[i:end]))
            i = end
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            open_paren = text.find("(", i + 2)
            delimiter = text[i + 2:open_paren]
            end = text.find(")" + delimiter + '"', open_paren)
            end = n if end == -1 else end + len(delimiter) + 2
            out.append('""' + blank(text[i + 2:end])[2:])
            i = end
        elif c == '"' or (c == "'" and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"))):
            # a quote right after a digit or letter is a digit separator (1'000) or a
            # prefix (u8"..." is handled by the '"' branch).
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + blank(text[i + 1:j]) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


ACCESS = re.compile(r"^\s*(public|private|protected)\s*:(?!:)")
TEMPLATE = re.compile(r"^\s*template\s*<")
TYPE_KEYWORD = re.compile(r"\b(class|struct|union|enum)\b")
MEMBER_INIT = re.compile(r"[:,]\s*[A-Za-z_][\w:<>, ]*$")
LAMBDA = re.compile(r"\]\s*(\([^()]*(\([^()]*\)[^()]*)*\))?\s*(mutable|constexpr|noexcept|->[^{]*|\s)*$")


def strip_template_prefix(header):
    """Drops a leading `template <...>` (nested angle brackets included)."""
    while TEMPLATE.match(header):
        depth, k = 0, header.index("<")
        while k < len(header):
            if header[k] == "<":
                depth += 1
            elif header[k] == ">":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        header = header[k + 1:]
    return header


def top_level_assignment(header):
    """True when `header` assigns at its top level (`auto x = ...`), outside parentheses."""
    depth = 0
    for k, c in enumerate(header):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "=" and depth == 0:
            before, after = header[k - 1] if k else "", header[k + 1] if k + 1 < len(header) else ""
            if before in "=!<>+-*/%&|^" or after == "=":
                continue
            if re.search(r"\boperator\s*$", header[:k]):
                continue
            return True
    return False


def classify(header, scope):
    """What a `{` opens, given the text before it in the enclosing scope."""
    header = ACCESS.sub("", header)
    bare = strip_template_prefix(header).strip()
    if scope == "data":
        return "function" if LAMBDA.search(bare) else "data"
    if re.match(r"^(inline\s+)?namespace\b", bare) or re.match(r"^extern\b", bare):
        return "namespace"
    if TYPE_KEYWORD.match(bare) or (TYPE_KEYWORD.search(bare) and "(" not in bare):
        return "class"
    if MEMBER_INIT.search(bare) and (bare.startswith(",") or re.search(r"\)\s*(noexcept\s*)?:", bare)):
        return "member_init"
    if "(" in bare:
        if top_level_assignment(bare):
            return "function" if LAMBDA.search(bare) else "data"
        return "function"
    return "data"


def functions(code):
    """Yields (name, first_line, last_line) for each function body in blanked code."""
    line_of = []
    line = 1
    for c in code:
        line_of.append(line)
        if c == "\n":
            line += 1
    stack = []  # (kind, header_start, name)
    header_start = 0
    function_depth = 0
    constructor = None  # (start, name) of a constructor whose member initializers use braces
    for i, c in enumerate(code):
        if function_depth:
            if c == "{":
                function_depth += 1
            elif c == "}":
                function_depth -= 1
                if function_depth == 0:
                    _, start, name = stack.pop()
                    yield name, line_of[start], line_of[i]
                    header_start = i + 1
            continue
        if c in ";}":
            if c == "}" and stack:
                stack.pop()
            header_start = i + 1
        elif c == "," and stack and stack[-1][0] == "data":
            header_start = i + 1
        elif c == "{":
            scope = stack[-1][0] if stack else "namespace"
            header = code[header_start:i]
            kind = classify(header, scope)
            skipped = len(header) - len(header.lstrip())
            access = ACCESS.match(header)
            if access:
                rest = header[access.end():]
                skipped = access.end() + len(rest) - len(rest.lstrip())
            start = header_start + skipped
            name = " ".join(header.split())
            name = name.split("(")[0].split()[-1] if "(" in name and name.split("(")[0].split() else name[:60]
            if kind in ("member_init", "function") and header.lstrip().startswith(",") and constructor:
                start, name = constructor  # a later member initializer or the body itself
            if kind == "member_init":
                constructor = (start, name)
                kind = "data"
            stack.append((kind, start, name))
            header_start = i + 1
            if kind == "function":
                function_depth = 1


def long_functions(path, limit):
    code = blank_non_code(path.read_text(encoding="utf-8"))
    for name, first, last in functions(code):
        length = last - first + 1
        if length > limit:
            yield name, first, length


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=80, help="longest allowed function, in lines")
    parser.add_argument("--root", default=".", help="the source tree")
    parser.add_argument("folders", nargs="*", default=LIBRARY_FOLDERS)
    args = parser.parse_args()
    root = pathlib.Path(args.root)
    found = []
    for folder in args.folders:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.suffix not in (".cpp", ".h", ".cc", ".hpp") or any(relative.startswith(e) for e in EXEMPT):
                continue
            for name, first, length in long_functions(path, args.max):
                found.append((length, f"{relative}:{first}: {name} is {length} lines (limit {args.max})"))
    for _, message in sorted(found, reverse=True):
        print(message)
    if found:
        print(f"{len(found)} function(s) over {args.max} lines; extract well-named helpers.")
        return 1
    print(f"no function over {args.max} lines in {', '.join(args.folders)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
