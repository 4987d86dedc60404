# shellcheck shell=bash
# Helpers shared by the queue integration tests (sourced after lib.sh).

# wait_until TIMEOUT_S CMD...: polls CMD until it succeeds; gives up at the
# deadline, or at once when keeld has exited.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  while [ $SECONDS -lt $deadline ]; do
    "$@" && return 0
    if [ -n "$KEELD_PID" ] && ! kill -0 "$KEELD_PID" 2>/dev/null; then
      "$@"
      return
    fi
    sleep 0.1
  done
  return 1
}

# count_lines FILE REGEX
count_lines() { grep -c -E -- "$2" "$1" 2>/dev/null || true; }

# missing_acked ACKED PROCESSED: "<id> <body>" of every acked message with
# no "ok" line for the same id and body.
missing_acked() {
  awk 'FILENAME == ARGV[1] {
         if ($1 == "ok") { body = $0; sub(/^ok [^ ]+ [^ ]+ /, "", body); seen[$2 " " body] = 1 }
         next
       }
       $1 == "acked" {
         body = $0; sub(/^acked [^ ]+ /, "", body)
         if (!(($2 " " body) in seen)) print $2 " " body
       }' "$2" "$1"
}

# last_stats LOG: the newest "stats queue=orders ..." line's fields.
last_stats() { grep -E 'stats queue=orders' "$1" 2>/dev/null | tail -n 1 | sed 's/.*stats queue=orders //'; }
stats_show() { last_stats "$1" | grep -Eq "$2"; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# check_env ENV: runs mdb_stat -a on an LMDB environment (a directory with
# data.mdb, or a single file); sets STATUS, output in $TEST_DIR/mdb_stat.out.
check_env() {
  local env=$1 file
  if [ -f "$env/data.mdb" ]; then
    run_to "$TEST_DIR/mdb_stat.out" mdb_stat -a "$env"
  elif [ -f "$env" ]; then
    run_to "$TEST_DIR/mdb_stat.out" mdb_stat -n -a "$env"
  else
    file=$(find "$env" -name '*.mdb' ! -name '*lock*' 2>/dev/null | head -n 1)
    if [ -n "$file" ]; then
      run_to "$TEST_DIR/mdb_stat.out" mdb_stat -n -a "$file"
    else
      echo "no LMDB environment under $env" >"$TEST_DIR/mdb_stat.out"
      STATUS=missing
    fi
  fi
}
