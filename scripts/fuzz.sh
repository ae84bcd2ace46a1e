#!/usr/bin/env bash
# Build the libFuzzer harnesses (spec/fuzz, clang with ASan + UBSan) and run them on the checked-in corpus.
#   scripts/fuzz.sh [--build DIR] [--time SECONDS] [--keep] [NAME...]
# NAME is a harness (frame, oci, agent_spec, ...; default: all). Each runs SECONDS (default 600) on a
# copy of spec/fuzz/corpus/NAME -- with --keep, new inputs found go back into that corpus -- and the run
# fails on the first finding, which is left as crash-* / leak-* / timeout-* in the working corpus directory
# printed. CTest runs every harness for 20 s (the fuzz.NAME tests).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build time=600 keep=0 names=()
while (($#)); do
	case $1 in
	--build) build=$2; shift 2 ;;
	--time) time=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,7p' "$0"; exit 0 ;;
	*) names+=("$1"); shift ;;
	esac
done
command -v clang >/dev/null || { echo "fuzz.sh: clang is not installed (run scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$build"
build=$(realpath "$build")
out=$build/fuzz
# one build at a time: CTest may start several harness tests at once
exec 9>"$build/.fuzz.lock"
flock 9
if [[ ! -f $out/CMakeCache.txt ]]; then
	CC=clang cmake -S spec/fuzz -B "$out" -DCMAKE_BUILD_TYPE=Debug >/dev/null
fi
cmake --build "$out" -j2 >/dev/null
flock -u 9
if ((${#names[@]} == 0)); then
	for f in spec/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; names+=("${n%.c}"); done
fi
status=0
for n in "${names[@]}"; do
	[[ -x $out/fuzz_$n ]] || { echo "fuzz.sh: no harness '$n'" >&2; exit 1; }
	work=$(mktemp -d "/tmp/kata-fuzz-$n.XXXXXX")
	cp -r "spec/fuzz/corpus/$n/." "$work/"
	log=$work.log
	set +e
	dict=()
	if [[ -f spec/fuzz/$n.dict ]]; then dict=(-dict="$PWD/spec/fuzz/$n.dict"); elif [[ $n != frame ]]; then dict=(-dict="$PWD/spec/fuzz/json.dict"); fi
	(cd "$work" && "$out/fuzz_$n" -max_total_time="$time" -timeout=10 -rss_limit_mb=1024 "${dict[@]}" \
		-print_final_stats=1 -artifact_prefix="$work/" "$work" >"$log" 2>&1)
	rc=$?
	set -e
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
	if ((rc != 0)); then
		echo "fuzz $n: FINDING after ${execs:-?} executions (exit $rc); inputs and log in $work, $log"
		grep -m1 -A30 'ERROR\|runtime error\|deadly signal' "$log" || tail -30 "$log"
		status=1
		continue
	fi
	echo "fuzz $n: ${execs:-?} executions in ${time} s, ${cov:-cov: ?}, no finding"
	if ((keep)); then
		# only inputs that add coverage go back: a merge into the checked-in corpus
		"$out/fuzz_$n" -merge=1 "spec/fuzz/corpus/$n" "$work" >/dev/null 2>&1 || true
	fi
	rm -rf "$work" "$log"
done
exit $status
