#!/usr/bin/env bash
# keelctl against a real keeld (conf/keel.yaml with a poison gate step
# between confirm and store, as orders_poison.sh): every verb, --json
# output parsed, exit codes (unreachable 4, unknown order 2, rejected
# order 6, purge without --yes on a non-tty 3, restore while keeld runs 3);
# a DLQ flow (list, show, redrive by id and rate-limited, purge --yes); and
# a hot backup while orders flow, restored into a new data directory: every
# order CONFIRMED before the backup started is CONFIRMED there with the
# same number, and keeld starts on it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_lib.sh"

KEELCTL=${KEELCTL:-$(dirname "$KEELD")/keelctl}
[ -x "$KEELCTL" ] || { echo "keelctl not built: $KEELCTL"; exit 77; }
STEP_SO=$KEEL_TEST_PLUGIN_DIR/test_step.so
[ -f "$STEP_SO" ] || { echo "test plugin not built: $STEP_SO"; exit 77; }
DEADLINE=${KEEL_KEELCTL_DEADLINE:-30}
POISON_FILE=$TEST_DIR/poison-on
OUT=$TEST_DIR/out
ERR=$TEST_DIR/err

CONFIG=$TEST_DIR/keelctl.yaml
python3 - "$KEEL_SOURCE_DIR/conf/keel.yaml" "$CONFIG" "$STEP_SO" "$POISON_FILE" <<'PY'
import sys
src, dst, so, poison = sys.argv[1:]
text = open(src).read()
gate = f"""  - name: gate
    module: {so}
    config:
      fail_attr: "customer_id=POISON"
      fail_while: {poison}

pipelines:
"""
assert text.count("\npipelines:\n") == 1 and text.count("steps: [confirm, store]") == 1, "conf/keel.yaml changed shape"
text = text.replace("pipelines:\n", gate, 1).replace("steps: [confirm, store]", "steps: [confirm, gate, store]")
open(dst, "w").write(text)
PY
[ -s "$CONFIG" ] || { fail "cannot derive the config from conf/keel.yaml"; finish; exit; }

# kc WANT_STATUS NAME ARGS...: runs keelctl (stdin from /dev/null: not a
# terminal), stdout in $OUT, stderr in $ERR; checks the exit status.
kc() {
  local want=$1 name=$2
  shift 2
  STATUS=0
  "$KEELCTL" "$@" >"$OUT" 2>"$ERR" </dev/null || STATUS=$?
  if [ "$STATUS" = "$want" ]; then
    pass "$name: exit $STATUS"
  else
    fail "$name: exit $STATUS, want $want: $(head -c 300 "$OUT") $(head -c 300 "$ERR")"
  fi
}
# js NAME PY_EXPR: the Python expression on $OUT's JSON `d` holds.
js() {
  if python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$OUT" 2>/dev/null; then
    pass "$1"
  else
    fail "$1: $(head -c 400 "$OUT")"
  fi
}
# kc_poll TIMEOUT_S PY_EXPR ARGS...: keelctl --json ARGS until the expression holds.
kc_poll() {
  local timeout=$1 expr=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  while :; do
    "$KEELCTL" --json "$@" >"$OUT" 2>"$ERR" </dev/null || true
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($expr) else 1)" "$OUT" 2>/dev/null && return 0
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}
order_json() {
  cat <<JSON
{"orderId":"$1","customerId":"$2","orderDate":"2025-03-06T16:30:00Z",
"items":[{"productId":"PROD-001","name":"Widget Pro","quantity":2,"price":19.99},
{"productId":"PROD-002","name":"Super Gadget","quantity":1,"price":49.99}],
"shippingAddress":{"street":"123 Main St","city":"Anytown","state":"CA","zipCode":"12345"},
"paymentMethod":"credit_card","totalAmount":89.97}
JSON
}
# keel_up DATA_DIR NAME: keeld on $PORT with $CONFIG, waits for /readyz.
keel_up() {
  PORT=$(free_port)
  BASE=http://127.0.0.1:$PORT
  export KEEL_URL=$BASE
  KEEL_DATA_DIR=$1 KEEL_LISTEN=127.0.0.1:$PORT KEEL_WEB_ROOT=$KEEL_SOURCE_DIR/web KEEL_LOG_LEVEL=warn \
    start_keeld "$CONFIG" "$TEST_DIR/$2.log"
  local deadline=$((SECONDS + 30))
  until curl -sf -o /dev/null "$BASE/readyz"; do
    if ! kill -0 "$KEELD_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      fail "$2: keeld did not become ready: $(tail -n 5 "$TEST_DIR/$2.log")"
      return 1
    fi
    sleep 0.1
  done
  pass "$2: keeld ready on $BASE (data dir $1)"
}

# ---- help, usage, unreachable ----
kc 0 "--help" --help
grep -q "Exit codes" "$OUT" && grep -q "unavailable" "$OUT" && pass "--help documents the exit codes" || fail "--help: $(cat "$OUT")"
kc 1 "unknown verb" frobnicate
kc 1 "orders list without --customer" orders list
DEAD_URL=http://127.0.0.1:$(free_port)
kc 4 "status against an unreachable daemon" --url "$DEAD_URL" status
kc 4 "status --json against an unreachable daemon" --url "$DEAD_URL" --json status
js "status --json says reachable: false" 'd["reachable"] is False'
KEEL_URL=$DEAD_URL kc 4 "KEEL_URL is used (unreachable)" queues
# --json makes every verb print JSON, its own errors included.
for verb in queues "dlq list" "orders get X" "submit $TEST_DIR/nope.json"; do
  # shellcheck disable=SC2086  # the verb's words
  kc "$([ "${verb%% *}" = submit ] && echo 1 || echo 4)" "--json $verb (error)" --url "$DEAD_URL" --json $verb
  js "--json $verb: an error object on stdout" 'd["error"] in ("unavailable", "bad_input") and d["message"]'
done

DATA=$TEST_DIR/data
keel_up "$DATA" main || { finish; exit; }

# ---- status, queues, plugins ----
kc 0 "status" status
grep -q "ready" "$OUT" && grep -q "orders" "$OUT" && pass "status prints readiness and the queue table" || fail "status: $(cat "$OUT")"
kc 0 "status --json" --json status
js "status --json: ready, queue orders listed" 'd["ready"] is True and any(q["name"] == "orders" for q in d["queues"])'
kc 0 "queues --json" --json queues
js "queues --json: orders with dlq_depth and counters" '[q for q in d["queues"] if q["name"] == "orders"][0]["dlq_depth"] == 0 and "sent" in d["queues"][0]["counters"]'
kc 0 "queues (table)" queues
head -n 1 "$OUT" | grep -q "^QUEUE .*DLQ" && pass "queues prints a table with a header" || fail "queues table: $(cat "$OUT")"
kc 0 "plugins --json" --json plugins
js "plugins --json: instances, modules, versions, health" '(lambda p: p["queue"]["module"] == "queue_lmdb" and p["store"]["module"] == "store_lmdb" and p["store"]["health"] == "ok" and p["http"]["module"] == "http" and p["gate"]["started"] and p["store"]["version"] and p["queue"]["version"])({x["name"]: x for x in d["plugins"]}) and d["keel_version"]'
kc 0 "plugins (table)" plugins
grep -q "store_lmdb" "$OUT" && pass "plugins prints the store_lmdb instance" || fail "plugins: $(cat "$OUT")"

# ---- submit and orders ----
order_json "KC-1-$$" KC-CUST >"$TEST_DIR/order1.json"
kc 0 "submit FILE --json" --json submit "$TEST_DIR/order1.json"
js "submit --json: 202 body with order_id and QUEUED" "d['order_id'] == 'KC-1-$$' and d['status'] == 'QUEUED'"
STATUS=0
order_json "KC-2-$$" KC-CUST | "$KEELCTL" submit - >"$OUT" 2>"$ERR" || STATUS=$?
[ "$STATUS" = 0 ] && grep -q "KC-2-$$" "$OUT" && pass "submit - reads stdin" || fail "submit -: exit $STATUS $(cat "$OUT" "$ERR")"
kc 0 "submit the same order again" submit "$TEST_DIR/order1.json"
echo '{"customer_id": "X", "items": []}' >"$TEST_DIR/bad.json"
kc 6 "submit an invalid order -> rejected" submit "$TEST_DIR/bad.json"
kc 1 "submit a missing file" submit "$TEST_DIR/nope.json"
kc_poll "$DEADLINE" 'd["status"] == "CONFIRMED" and d["confirmation_number"]' orders get "KC-1-$$" &&
  pass "orders get --json: KC-1 CONFIRMED" || fail "orders get KC-1: $(head -c 300 "$OUT")"
kc_poll "$DEADLINE" 'd["status"] == "CONFIRMED"' orders get "KC-2-$$" && pass "orders get: KC-2 CONFIRMED" || fail "KC-2: $(head -c 300 "$OUT")"
kc 0 "orders get (text)" orders get "KC-1-$$"
grep -q "confirmation_number" "$OUT" && pass "orders get prints the fields" || fail "orders get text: $(cat "$OUT")"
# Money prints as sent (a double printed with 17 digits shows 89.969999999999999).
grep -q '"amount": 89.97,' "$OUT" && grep -q '"price": 19.99,' "$OUT" && ! grep -qE '[0-9]\.[0-9]{12,}' "$OUT" &&
  pass "orders get prints money as sent (89.97, 19.99)" || fail "money in orders get: $(grep -E 'amount|price' "$OUT")"
kc 0 "orders get --json" --json orders get "KC-1-$$"
grep -q '"amount": 89.97' "$OUT" && ! grep -qE '[0-9]\.[0-9]{12,}' "$OUT" &&
  pass "orders get --json prints money as sent" || fail "money in --json: $(grep -E 'amount|price' "$OUT")"
kc 2 "orders get of an unknown order -> not found" orders get "NO-SUCH-$$"
kc 0 "orders list --json" --json orders list --customer KC-CUST
js "orders list: both orders of KC-CUST" "sorted(o['order_id'] for o in d['orders']) == ['KC-1-$$', 'KC-2-$$']"
kc 0 "orders list --limit 1 --all --json" --json orders list --customer KC-CUST --limit 1 --all
js "orders list --all follows the cursor" "len(d['orders']) == 2 and d['next_cursor'] is None"
kc 0 "orders list (table)" orders list --customer KC-CUST
[ "$(grep -c CONFIRMED "$OUT")" = 2 ] && pass "orders list prints two CONFIRMED rows" || fail "orders list: $(cat "$OUT")"

# ---- DLQ ----
touch "$POISON_FILE"
for i in 1 2 3 4; do
  order_json "KC-P$i-$$" POISON >"$TEST_DIR/p$i.json"
  kc 0 "submit poison order $i" submit "$TEST_DIR/p$i.json"
done
kc_poll "$DEADLINE" 'len(d["messages"]) == 4' dlq list && pass "dlq list --json: the 4 poison orders" ||
  fail "dlq list: $(head -c 400 "$OUT")"
MSG1=$(python3 -c "
import json,sys
d = json.load(open(sys.argv[1]))
print({m['attributes']['order_id']: m['message_id'] for m in d['messages']}['KC-P1-$$'])" "$OUT" 2>/dev/null || true)
MSGS23=$(python3 -c "
import json,sys
d = json.load(open(sys.argv[1]))
ids = {m['attributes']['order_id']: m['message_id'] for m in d['messages']}
print(ids['KC-P2-$$'], ids['KC-P3-$$'])" "$OUT" 2>/dev/null || true)
kc 0 "dlq list (table)" dlq list
grep -q "gate" "$OUT" && grep -q "4 message" "$OUT" && pass "dlq list prints the failing step and a count" || fail "dlq list: $(cat "$OUT")"
kc 0 "dlq show ID --json" --json dlq show "$MSG1"
js "dlq show: the message, its order and failing step" "d['message_id'] == '$MSG1' and d['attributes']['order_id'] == 'KC-P1-$$' and d['failed_step'] == 'gate' and 'fail_attr' in d['last_error']"
kc 0 "dlq show ID (text)" dlq show "$MSG1"
grep -q "failed_step *gate" "$OUT" && pass "dlq show prints the fields" || fail "dlq show: $(cat "$OUT")"
kc 2 "dlq show of an unknown id -> not found" dlq show 01NOSUCHMESSAGE0000000000
kc 2 "dlq list of an unknown queue -> not found" --queue nope dlq list
kc 3 "dlq purge without --yes, stdin not a terminal -> refused" dlq purge
grep -q -- "--yes" "$ERR" && pass "purge refusal names --yes" || fail "purge refusal: $(cat "$ERR")"
kc 0 "the DLQ is untouched" --json queues
js "dlq_depth still 4 after the refused purge" '[q for q in d["queues"] if q["name"] == "orders"][0]["dlq_depth"] == 4'

rm -f "$POISON_FILE"
kc 0 "dlq redrive ID --json" --json dlq redrive "$MSG1"
js "redrive by id moved 1" 'd["moved"] == 1 and d["finished"] is True'
kc_poll "$DEADLINE" 'd["status"] == "CONFIRMED"' orders get "KC-P1-$$" && pass "the redriven order is CONFIRMED" ||
  fail "redriven KC-P1: $(head -c 300 "$OUT")"
# The gate fails them again: they fall straight back into the DLQ, which
# does not make the redrive's count 0.
touch "$POISON_FILE"
# shellcheck disable=SC2086
kc 0 "dlq redrive ID ID --rate 1" dlq redrive $MSGS23 --rate 1
grep -q "redrove 2" "$OUT" && pass "rate-limited redrive of 2 ids: redrove 2" || fail "redrive --rate: $(cat "$OUT" "$ERR")"
kc_poll "$DEADLINE" '[q for q in d["queues"] if q["name"] == "orders"][0]["dlq_depth"] == 3' queues &&
  pass "the 2 redriven poison orders are back in the DLQ" || fail "dlq after the failing redrive: $(head -c 300 "$OUT")"
rm -f "$POISON_FILE"
kc 2 "dlq redrive of ids not in the DLQ -> not found" dlq redrive 01NOSUCHMESSAGE0000000000
kc 0 "dlq purge --yes --json" --json dlq purge --yes
js "purge deleted the 3 poison messages left" 'd["purged"] is True and d["deleted"] == 3'
kc 0 "queues after purge" --json queues
js "dlq_depth 0 after purge" '[q for q in d["queues"] if q["name"] == "orders"][0]["dlq_depth"] == 0'

# ---- backup while orders flow, restore into a new data directory ----
ACKED=$TEST_DIR/acked
STOP=$TEST_DIR/stop-load
: >"$ACKED"
python3 - "$BASE" "$ACKED" "$STOP" <<'PY' &
import json, os, sys, urllib.request
base, acked, stop = sys.argv[1:]
i = 0
with open(acked, "w") as out:
    while not os.path.exists(stop):
        i += 1
        oid = f"BK-{i}"
        body = {"order_id": oid, "customer_id": f"BK-C{i % 5}", "amount": 3.5,
                "items": [{"product_id": "P1", "name": "thing", "quantity": 1, "price": 3.5}]}
        req = urllib.request.Request(base + "/api/v1/orders", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                if r.status == 202:
                    out.write(oid + "\n")
                    out.flush()
        except Exception:
            pass
PY
LOAD_PID=$!
deadline=$((SECONDS + 20))
until [ "$(wc -l <"$ACKED" 2>/dev/null || echo 0)" -ge 100 ] || [ $SECONDS -ge $deadline ]; do sleep 0.1; done
# Orders CONFIRMED now, before the backup starts (the load goes on).
SNAP=$TEST_DIR/snapshot
python3 - "$BASE" "$ACKED" "$SNAP" <<'PY'
import json, sys, urllib.request
base, acked, snap = sys.argv[1:]
out = {}
for oid in open(acked).read().split():
    with urllib.request.urlopen(f"{base}/api/v1/orders/{oid}", timeout=10) as r:
        d = json.load(r)
    if d["status"] == "CONFIRMED":
        out[oid] = d["confirmation_number"]
json.dump(out, open(snap, "w"))
PY
CONFIRMED=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$SNAP" 2>/dev/null || echo 0)
[ "$CONFIRMED" -gt 0 ] && pass "$CONFIRMED orders CONFIRMED before the backup (load still running)" ||
  fail "no order was CONFIRMED before the backup"
BACKUP=$TEST_DIR/backup
kc 0 "backup DEST --json while orders flow" --json backup "$BACKUP"
js "backup --json: done, queue and store files" 'd["state"] == "done" and sorted(f["file"] for f in d["files"]) == ["queue/data.mdb", "store/data.mdb"] and d["steps_done"] == d["steps_total"]'
touch "$STOP"
wait "$LOAD_PID" || true
[ -s "$BACKUP/manifest.json" ] && [ -s "$BACKUP/queue/data.mdb" ] && [ -s "$BACKUP/store/data.mdb" ] &&
  pass "backup holds manifest.json, queue/data.mdb, store/data.mdb" || fail "backup files: $(ls -R "$BACKUP")"
python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["format"] == 1 and m["keel_version"] and m["started_at"], m
assert {f["instance"]: f["module"] for f in m["files"]} == {"queue": "queue_lmdb", "store": "store_lmdb"}, m
assert all(f["bytes"] > 0 and f["started_at"] for f in m["files"]), m' "$BACKUP/manifest.json" &&
  pass "manifest.json: format, keel version, time, each file's instance, module, size" || fail "manifest: $(cat "$BACKUP/manifest.json")"
kc 3 "backup into a directory that already holds one -> conflict" backup "$BACKUP"
kc 0 "backup (text) into another directory" backup "$TEST_DIR/backup2"
grep -q "complete" "$OUT" && pass "backup prints completion" || fail "backup text: $(cat "$OUT")"
if command -v script >/dev/null; then
  script -qec "$KEELCTL backup $TEST_DIR/backup3" /dev/null >"$OUT" 2>&1 || true
  grep -q "backup \[" "$OUT" && pass "a progress bar is drawn on a terminal" || fail "no progress bar on a tty: $(head -c 300 "$OUT")"
fi
kc 3 "restore into the running daemon's data dir -> refused" restore "$BACKUP" --data-dir "$DATA"
grep -q "stop keeld" "$ERR" && pass "the refusal says keeld must be stopped" || fail "restore refusal: $(cat "$ERR")"

http_down main
NEW=$TEST_DIR/restored
kc 0 "restore SRC --data-dir NEW --json (keeld stopped)" --json restore "$BACKUP" --data-dir "$NEW"
js "restore --json: 2 files restored" 'd["restored"] is True and d["files_restored"] == 2'
[ -e "$NEW/store/restored" ] && [ ! -e "$NEW/queue/restored" ] &&
  pass "restore marks the store restored (its sequences jump at the next start)" || fail "no restored marker: $(ls "$NEW"/*)"
kc 3 "restore again without --yes -> refused (would replace data)" restore "$BACKUP" --data-dir "$NEW"
kc 1 "restore of a directory without manifest" restore "$TEST_DIR" --data-dir "$TEST_DIR/x"

keel_up "$NEW" restored || { finish; exit; }
python3 - "$BASE" "$SNAP" <<'PY' && pass "every order CONFIRMED before the backup is CONFIRMED after the restore, same number" || fail "restored orders differ"
import json, sys, urllib.request
base, snap = sys.argv[1:]
want = json.load(open(snap))
bad = []
for oid, number in want.items():
    try:
        with urllib.request.urlopen(f"{base}/api/v1/orders/{oid}", timeout=10) as r:
            d = json.load(r)
    except Exception as e:
        bad.append((oid, str(e)))
        continue
    if d["status"] != "CONFIRMED" or d["confirmation_number"] != number:
        bad.append((oid, d["status"], d.get("confirmation_number"), number))
if bad:
    print("mismatch:", bad[:5], len(bad), file=sys.stderr)
    sys.exit(1)
PY
[ ! -e "$NEW/store/restored" ] && grep -q "restored from a backup: [1-9][0-9]* sequence(s) advanced by 10000000" "$TEST_DIR/restored.log" &&
  pass "the restored store advanced its sequences once: $(grep -o 'restored from a backup: [^,]*' "$TEST_DIR/restored.log")" ||
  fail "sequences not advanced: $(grep -i restored "$TEST_DIR/restored.log" | head -n 3)"
kc 0 "status on the restored data" --json status
js "restored keeld is ready" 'd["ready"] is True'
# Orders waiting in the queue copy are processed after the restore (those
# in flight at the copy come back after their visibility timeout, 60 s).
kc_poll "$DEADLINE" '[q for q in d["queues"] if q["name"] == "orders"][0]["visible"] == 0' queues &&
  pass "the restored queue's waiting messages are processed" || fail "restored queue: $(head -c 300 "$OUT")"
http_down restored
finish
