#!/bin/sh
# Remove macsensor from this Mac:
#
#   sudo /Library/macsensor/uninstall.sh [--keep-logs | --remove-logs]
#
# Stops the daemon and removes the install prefix (binary, rules.d,
# macsensor.toml, documentation), the LaunchDaemon plist and the package
# receipt. The log directory is kept unless --remove-logs is given: alerts a
# forwarder has not shipped yet are evidence. Managed preferences belong to
# the MDM profile; remove the profile to remove them. pkg-build fills in the
# __NAME__ placeholders.
set -eu

LABEL='__LABEL__'
PREFIX='__PREFIX__'
LOG_DIR='__LOG_DIR__'
IDENTIFIER='__IDENTIFIER__'
PLIST="/Library/LaunchDaemons/$LABEL.plist"

usage() {
	echo "usage: $0 [--keep-logs | --remove-logs]" >&2
	exit 2
}

remove_logs=0
for arg in "$@"; do
	case $arg in
	--keep-logs) remove_logs=0 ;;
	--remove-logs) remove_logs=1 ;;
	*) usage ;;
	esac
done

if [ "$(/usr/bin/id -u)" -ne 0 ]; then
	echo "$0: must run as root (sudo $0)" >&2
	exit 1
fi

# Never rm -rf a prefix that is empty, "/" or a single top-level directory.
case $PREFIX in
/?*/?*) ;;
*)
	echo "$0: refusing to remove prefix '$PREFIX'" >&2
	exit 1
	;;
esac

if /bin/launchctl print "system/$LABEL" >/dev/null 2>&1; then
	/bin/launchctl bootout "system/$LABEL" || true
	i=0
	while /bin/launchctl print "system/$LABEL" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -gt 10 ]; then
			echo "$0: system/$LABEL is still loaded after launchctl bootout; nothing removed" >&2
			exit 1
		fi
		sleep 1
	done
fi

/bin/rm -f "$PLIST"
/bin/rm -rf "$PREFIX"
if [ "$remove_logs" -eq 1 ]; then
	/bin/rm -rf "$LOG_DIR"
fi
# No receipt (installed another way) is not an error.
/usr/sbin/pkgutil --forget "$IDENTIFIER" >/dev/null 2>&1 || true

if [ "$remove_logs" -eq 1 ]; then
	echo "macsensor removed, logs included"
else
	echo "macsensor removed; logs kept in $LOG_DIR (--remove-logs deletes them)"
fi
