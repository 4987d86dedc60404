#!/usr/bin/env bash
# The short form of tests/soak/soak.sh (`make soak` runs the hour): 60 s of
# steady load sampled every 2 s, the same growth verdicts, the CSV in the
# build dir. The queue's dedup window (5 min) is cut to 10 s, so that the
# memory and the queue file it takes level off within the warm-up third.
export KEEL_SOAK_SECONDS=${KEEL_SOAK_SECONDS:-60}
export KEEL_SOAK_INTERVAL=${KEEL_SOAK_INTERVAL:-2}
export KEEL_SOAK_DEDUP_WINDOW=${KEEL_SOAK_DEDUP_WINDOW:-10s}
exec bash "$(dirname "$0")/../soak/soak.sh"
