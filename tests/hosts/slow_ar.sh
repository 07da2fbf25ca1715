#!/bin/sh
# The stand-in `ar` of the `arshim bench` test (tests/bench.rs): sleeps 0.3 s,
# so that the sampler surely sees it, then execs the real archiver,
# $STANDIN_REAL_AR.
sleep 0.3
exec "$STANDIN_REAL_AR" "$@"
