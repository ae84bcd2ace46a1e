#!/usr/bin/env bash
# The whole test suite: install what is missing, build, build the guest image, run every CTest test
# (C unit tests, busted unit/privileged/integration suites). Ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null
if [[ -x scripts/build-guest.sh ]]; then
	bash scripts/build-guest.sh build
fi
cd build
ctest --output-on-failure --timeout 1800 "$@"
