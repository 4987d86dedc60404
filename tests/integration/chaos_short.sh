#!/usr/bin/env bash
# The short form of tests/chaos/chaos.sh (`make chaos` runs the long one):
# KEEL_CHAOS_SECONDS (80) s of order load with kill -9, disk full, dynalite
# stop/start, pipeline stalls and poison orders, then the reconciliation.
# Bounded to fit ctest's 300 s.
export KEEL_CHAOS_SECONDS=${KEEL_CHAOS_SECONDS:-80}
export KEEL_CHAOS_DEADLINE=${KEEL_CHAOS_DEADLINE:-60}
exec bash "$(dirname "$0")/../chaos/chaos.sh"
