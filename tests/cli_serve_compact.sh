#!/usr/bin/env bash
# `mmfuse serve` compaction drops deleted items: add items, delete most of
# them, and after compaction (at SIGTERM, and at the start that replays a log
# left by kill -9) the index file holds no tombstone (`mmfuse index info`),
# is smaller, no deleted id ever comes back (search, 404 on delete), and every
# living item is there once with its payload. Recall of the rebuilt graph is
# checked in tests/test_index_compact.c.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
command -v curl >/dev/null || { echo "skipped: curl is missing (scripts/install-deps.sh test)"; exit 77; }
PY=/usr/bin/python3
T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
ST=$SRC/tests/data/text/bert_st
IX=$T/c.mmfidx
N=400

start() {
  rm -f "$T/port"
  "$CLI" serve --text-model "$ST" --index "$IX" --port 0 --port-file "$T/port" --threads 1 2>>"$T/server.log" &
  PID=$!
  local deadline=$((SECONDS + 120))   # generous: a sanitizer build on a loaded machine starts slowly
  while [ $SECONDS -lt $deadline ]; do
    if [ -s "$T/port" ]; then
      URL=http://127.0.0.1:$(cat "$T/port")
      [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && return 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAILED: the server did not become ready: $(tail -5 "$T/server.log")" >&2
  exit 1
}
stop() { kill -TERM "$PID"; wait "$PID"; local rc=$?; PID=; check "[ $rc -eq 0 ]" "SIGTERM: exit status $rc"; }
# info FIELD: a field of `mmfuse index info --json` on the saved file
info() { "$CLI" index info "$IX" --json | $PY -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
size() { stat -c %s "$IX"; }

# drive ACTION...: items (add N), delete FROM TO STEP, verify DEAD_FILE (one python, keep-alive)
drive() {
  $PY - "$URL" "$N" "$T/dead" "$@" <<'PYEOF'
import http.client, json, sys, urllib.parse
url, n, dead_file, action = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = http.client.HTTPConnection(urllib.parse.urlparse(url).netloc, timeout=30)
def call(method, path, body=None):
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    return r.status, json.loads(r.read() or b"null")
dead = set(open(dead_file).read().split()) if action != "items" else set()
if action == "items":
    for lo in range(0, n, 100):
        st, r = call("POST", "/v1/index/items", {"items": [{"id": "it-%d" % i, "text": "item number %d" % i,
                                                            "payload": {"i": i, "w": 1}} for i in range(lo, min(n, lo + 100))]})
        assert st == 200, (st, r)
elif action == "delete":
    lo, hi, step = map(int, sys.argv[5:8])
    with open(dead_file, "a") as out:
        for i in range(lo, hi, step):
            if "it-%d" % i in dead: continue
            st, r = call("DELETE", "/v1/index/items/it-%d" % i)
            assert st == 200, (i, st, r)
            out.write("it-%d\n" % i)
elif action == "verify":
    st, r = call("POST", "/v1/search", {"text": "item", "k": 10000, "filter": {"w": 1}})
    assert st == 200, (st, r)
    ids = [h["id"] for h in r["hits"]]
    assert len(ids) == len(set(ids)), "repeated ids"
    back = dead & set(ids)
    assert not back, "%d deleted ids came back, e.g. %s" % (len(back), sorted(back)[:3])
    want = {"it-%d" % i for i in range(n)} - dead
    missing = want - set(ids)
    assert not missing, "%d living ids are missing, e.g. %s" % (len(missing), sorted(missing)[:3])
    bad = [h for h in r["hits"] if h["payload"] != {"i": int(h["id"][3:]), "w": 1}]
    assert not bad, "payloads changed: %s" % bad[:2]
    st, r = call("POST", "/v1/search", {"text": "item number 7", "k": 10})   # the HNSW walk
    assert st == 200 and len(r["hits"]) == min(10, len(want)) and not dead & {h["id"] for h in r["hits"]}, r
    for d in sorted(dead)[:20]:
        st, r = call("DELETE", "/v1/index/items/" + d)
        assert st == 404, (d, st, r)
    print("verify: %d living ids present, none of %d deleted ids" % (len(want), len(dead)))
PYEOF
}
: > "$T/dead"

start
check 'drive items' "adding $N items"
stop
s_full=$(size)
check '[ "$(info count)" = $N ] && [ "$(info deleted)" = 0 ]' "after adding: $("$CLI" index info "$IX" 2>&1 | head -3)"

# delete 3 in 4, then SIGTERM: the shutdown compaction drops them
start
check 'drive delete 0 $N 4 && drive delete 1 $N 4 && drive delete 2 $N 4' "deleting"
check 'curl -s "$URL/metrics" | grep -q "^mmfuse_index_deleted 300$"' "300 tombstones before compaction: $(curl -s "$URL/metrics" | grep index_)"
stop
s_compact=$(size)
check '[ "$(info count)" = 100 ] && [ "$(info deleted)" = 0 ]' "compacted at SIGTERM: $("$CLI" index info "$IX" 2>&1 | head -5)"
check '[ "$s_compact" -lt $((s_full / 2)) ]' "the index file shrank: $s_full -> $s_compact bytes"

start
check 'curl -s "$URL/metrics" | grep -q "^mmfuse_index_deleted 0$"' "no tombstone after restart"
check 'drive verify' "after the SIGTERM compaction"
# deletes left in the log by kill -9 are replayed and dropped by the start's compaction
check 'drive delete 3 $N 8' "deleting more"
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
check '[ -s "$IX.log" ]' "the log holds the deletes"
start
check '[ "$(info count)" = 50 ] && [ "$(info deleted)" = 0 ] && [ "$(size)" -lt "$s_compact" ]' "compacted at start: $("$CLI" index info "$IX" 2>&1 | head -5), $(size) bytes"
check 'drive verify' "after the replay and compaction"
stop
if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log"; then
  echo "FAILED: the server reported: $(grep -m1 -A8 "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log")" >&2; fail=1
fi
[ $fail -eq 0 ] && echo "cli_serve_compact: ok (file $s_full -> $s_compact bytes after deleting 300 of $N)"
exit $fail
