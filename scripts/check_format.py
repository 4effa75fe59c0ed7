#!/usr/bin/env python3
"""Lists the C++ files of tamp that .clang-format would change; exits 1 when any is.

    scripts/check_format.py [--root .] [--clang-format clang-format]

Every .h and .cpp under the source folders (build folders, node_modules and .helpers
skipped) goes through `clang-format --dry-run --Werror`. Fix a listed file with
`clang-format -i FILE`.
"""

import argparse
import pathlib
import shutil
import subprocess
import sys

FOLDERS = ["autograd", "nn", "io", "compression", "scheduler", "cli", "tests", "examples",
           "benchmarks", "fuzz"]
SKIPPED_PARTS = {"build", "node_modules", ".helpers"}


def sources(root):
    files = [root / "tamp.h"] if (root / "tamp.h").exists() else []
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in (".h", ".cpp") and not SKIPPED_PARTS & set(path.parts):
                files.append(path)
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".")
    parser.add_argument("--clang-format", default="clang-format")
    args = parser.parse_args()
    tool = shutil.which(args.clang_format)
    if not tool:
        print(f"{args.clang_format} not found: install Debian's clang-format (scripts/setup.sh "
              "does)", file=sys.stderr)
        return 2
    root = pathlib.Path(args.root).resolve()
    files = sources(root)
    unformatted = []
    for start in range(0, len(files), 100):
        chunk = files[start:start + 100]
        result = subprocess.run([tool, "--dry-run", "--Werror", *map(str, chunk)],
                                capture_output=True, text=True, cwd=root)
        if result.returncode == 0:
            continue
        for path in chunk:  # name the files, not clang-format's thousands of lines
            one = subprocess.run([tool, "--dry-run", "--Werror", str(path)],
                                 capture_output=True, text=True, cwd=root)
            if one.returncode != 0:
                unformatted.append(path.relative_to(root))
    for path in unformatted:
        print(f"{path}: not formatted (clang-format -i {path})")
    print(f"{len(files)} files checked, {len(unformatted)} not formatted")
    return 1 if unformatted else 0


if __name__ == "__main__":
    sys.exit(main())
