#!/usr/bin/env bash
# The CLI's short OpenMP barrier spin (tools/mmfuse.c): libgomp reads
# GOMP_SPINCOUNT when it loads, so mmfuse re-executes itself once with 1000
# set, unless the user set their own or the run has one thread (nothing to
# spin for; the exec would only cost a second dynamic load). libgomp prints
# what it read under OMP_DISPLAY_ENV=verbose.
set -u
BIN=${MMFUSE_BIN:?}
CLI=$BIN/mmfuse
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
spin() { OMP_DISPLAY_ENV=verbose "$@" 2>&1 | sed -n "s/^ *GOMP_SPINCOUNT = '\([0-9]*\)'.*/\1/p" | tail -1; }
got=$(spin env MMFUSE_THREADS=2 "$CLI" --version)
[ -n "$got" ] || { echo "skipped: this libgomp does not display GOMP_SPINCOUNT"; exit 77; }
[ "$got" = 1000 ] || fail "2 threads: GOMP_SPINCOUNT $got, expected the CLI's 1000"
got=$(spin env MMFUSE_THREADS=2 GOMP_SPINCOUNT=7 "$CLI" --version)
[ "$got" = 7 ] || fail "the user's GOMP_SPINCOUNT=7 became $got"
got=$(spin env MMFUSE_THREADS=2 "$CLI" --version --threads 1)
[ "$got" != 1000 ] || fail "--threads 1 re-executed with the short spin ($got)"
got=$(spin env MMFUSE_THREADS=1 "$CLI" --version)
[ "$got" != 1000 ] || fail "MMFUSE_THREADS=1 re-executed with the short spin ($got)"
got=$(spin env MMFUSE_THREADS=1 "$CLI" --version --threads 2)
[ "$got" = 1000 ] || fail "--threads 2 overrides MMFUSE_THREADS=1, but the spin is $got"
[ $fails -eq 0 ] && echo "GOMP_SPINCOUNT: 1000 for multi-thread runs, libgomp's own for one thread, the user's when set"
exit $((fails > 0))
