#!/bin/sh
# The archiver of tests/temps.rs (installed as `ar`, first on PATH): what
# another process may do to the host's temp dir ($HOST_TEMP_DIR, which
# tests/hosts/temps_host.c exports) while the archiver runs, then the real
# archiver ($STANDIN_REAL_AR). TEMPS_AR_ACTION:
#   symlink  a.tmp replaced by a symlink to $TEMPS_VICTIM
#   other    b.tmp replaced by another file of the same name
#   foreign  foreign.txt put into the directory
#   fail     "temps_ar: failing" on stderr, exit 3, no archive
#   replace  after the real archiver, x.o replaced by another file of the
#            same name (before this archiver ends)
case "${TEMPS_AR_ACTION:-}" in
symlink) rm -f "$HOST_TEMP_DIR/a.tmp" && ln -s "$TEMPS_VICTIM" "$HOST_TEMP_DIR/a.tmp" || exit 9 ;;
other) rm -f "$HOST_TEMP_DIR/b.tmp" && echo other >"$HOST_TEMP_DIR/b.tmp" || exit 9 ;;
foreign) echo foreign >"$HOST_TEMP_DIR/foreign.txt" || exit 9 ;;
fail)
	echo "temps_ar: failing" >&2
	exit 3
	;;
replace)
	"$STANDIN_REAL_AR" "$@"
	rc=$?
	rm -f "$HOST_TEMP_DIR/x.o" && echo other >"$HOST_TEMP_DIR/x.o" || exit 9
	exit $rc
	;;
esac
exec "$STANDIN_REAL_AR" "$@"
