#!/bin/sh
# Stand-in archiver of the arshim integration tests (named `ar`: it matches the
# default ARSHIM_TOOLS). Appends one line to $STANDIN_RECORD:
#   pid=$$ ppid=$PPID gppid=... self_rss_kib=... parent_rss_kib=... gparent_rss_kib=...
# i.e. its own pid and memory (the host's pid, if the host was converted) and
# its parent's and grandparent's (the host, if the host spawned it and waits).
# Then execs the real archiver, $STANDIN_REAL_AR (tests/common sets it).
read_status() {
	RSS=0
	PP=0
	while read -r key value _; do
		case $key in
		VmRSS:) RSS=$value ;;
		PPid:) PP=$value ;;
		esac
	done 2>/dev/null <"$1"
}
read_status /proc/$$/status
self_rss=$RSS
read_status /proc/$PPID/status
parent_rss=$RSS
gppid=$PP
read_status /proc/$gppid/status
gparent_rss=$RSS
if [ -n "${STANDIN_RECORD:-}" ]; then
	echo "pid=$$ ppid=$PPID gppid=$gppid self_rss_kib=$self_rss parent_rss_kib=$parent_rss gparent_rss_kib=$gparent_rss" >>"$STANDIN_RECORD"
fi
echo "standin: archiving"
echo "standin: note on stderr" >&2
if [ "${STANDIN_READ_STDIN:-}" = 1 ]; then
	n=0
	while IFS= read -r _line; do n=$((n + 1)); done
	echo "standin: read $n stdin lines"
fi
if [ -n "${STANDIN_EXIT:-}" ]; then
	exit "$STANDIN_EXIT"
fi
if [ -z "${STANDIN_REAL_AR:-}" ]; then
	echo "standin: STANDIN_REAL_AR is not set" >&2
	exit 99
fi
exec "$STANDIN_REAL_AR" "$@"
