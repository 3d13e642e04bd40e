#!/usr/bin/env bash
# Acknowledged index writes of `mmfuse serve` survive kill -9 at any moment:
# four writers add items while the server is killed with SIGKILL after a random
# delay, for several rounds; after each restart every acknowledged id is in the
# index exactly once (tests/serve_check.py found). The kill clock starts at the
# round's first acknowledged write, not at the writers' launch, so a slow start
# (a sanitizer build on a loaded machine) cannot leave a round with nothing to
# check; every wait for the server has a generous deadline instead.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
command -v curl >/dev/null || { echo "skipped: curl is missing (scripts/install-deps.sh test)"; exit 77; }
PY=/usr/bin/python3
CHECK="$PY $SRC/tests/serve_check.py"
T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"' EXIT
fail=0
ST=$SRC/tests/data/text/bert_st
ROUNDS=${MMFUSE_CRASH_ROUNDS:-4}
WAIT_S=120   # for readiness and for a round's first acknowledged write
acked() { wc -l < "$T/acked"; }
start() {
  rm -f "$T/port"
  "$CLI" serve --text-model "$ST" --index "$T/crash.mmfidx" --port 0 --port-file "$T/port" --threads 1 2>>"$T/server.log" &
  PID=$!
  local deadline=$((SECONDS + WAIT_S))
  while [ $SECONDS -lt $deadline ]; do
    if [ -s "$T/port" ]; then
      URL=http://127.0.0.1:$(cat "$T/port")
      [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && return 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAILED: the server did not become ready in $WAIT_S s: $(tail -5 "$T/server.log")" >&2
  exit 1
}
touch "$T/acked"
for round in $(seq "$ROUNDS"); do
  start
  before=$(acked)
  $CHECK writer "$URL" "$T/acked" "r$round" &
  W=$!
  deadline=$((SECONDS + WAIT_S))
  while [ "$(acked)" -le "$before" ] && [ $SECONDS -lt $deadline ] && kill -0 "$W" 2>/dev/null; do sleep 0.02; done
  if [ "$(acked)" -le "$before" ]; then
    echo "FAILED: round $round: no write was acknowledged within $WAIT_S s of /readyz: $(tail -3 "$T/server.log")" >&2
    fail=1; kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=; wait "$W"; break
  fi
  sleep "0.$((RANDOM % 4 + 2))"   # the kill lands at a random moment of the writing
  kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
  wait "$W"
  start
  if ! out=$($CHECK found "$URL" "$T/acked" 2>&1); then echo "FAILED: round $round: $out" >&2; fail=1; break; fi
  kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
done
n=$(wc -l < "$T/acked")
[ "$n" -gt 0 ] || { echo "FAILED: no write was acknowledged in $ROUNDS rounds" >&2; fail=1; }
# a sanitizer build (make test-asan) reports into the server's stderr
if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log"; then
  echo "FAILED: the server reported: $(grep -m1 -A8 "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log")" >&2; fail=1
fi
[ $fail -eq 0 ] && echo "cli_serve_crash: ok ($ROUNDS rounds, $n acknowledged writes, $(grep -c 'torn tail' "$T/server.log") torn tails dropped)"
exit $fail
