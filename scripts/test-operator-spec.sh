#!/usr/bin/env bash
# The example operator spec (docs/examples/operator_spec.lua) run as an operator runs it: plain busted
# against the runtime installed to a temporary prefix, with nothing of the source tree or the build on
# any path. Run by the CTest test `operator_spec`.
#
#   scripts/test-operator-spec.sh BUILD_DIR
set -euo pipefail
build=$(realpath "${1:?usage: test-operator-spec.sh BUILD_DIR}")
prefix=$(mktemp -d /tmp/kata-operator.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
cd "$prefix"
# not exec: the trap must still remove the installation afterwards
env -u VC_BUILD_DIR -u LUA_INIT \
	LUA_PATH="$prefix/share/kata-runtime/lua/?.lua;;" \
	LUA_CPATH="$prefix/libexec/kata-runtime/lua/?.so;;" \
	lua5.4 /usr/bin/busted -o utfTerminal "$prefix/share/kata-runtime/examples/operator_spec.lua"
