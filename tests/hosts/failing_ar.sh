#!/bin/sh
# A failing stand-in archiver (tests/real_hosts.rs installs it under the name
# of the host's archiver): says so on stderr, works a little (so that a host
# that waits for it finds it still running, as it would a real ar), exits 3.
echo "failing stand-in $0 ran: $*" >&2
sleep 0.3
exit 3
