#!/usr/bin/env bash
# Format the C sources with the project's .clang-format; with --check, list what is not formatted and fail
# (CI runs the check as a CTest test, as crun's tests/clang-format does).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find src include spec -name '*.[ch]')
if [[ ${1:-} == --check ]]; then
	clang-format --dry-run --Werror "${files[@]}"
else
	clang-format -i "${files[@]}"
fi
