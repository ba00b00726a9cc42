#!/usr/bin/env bash
# Install the kiosk on the venue laptop from the wheelhouse alone: pip with --no-index,
# every wheel checked against requirements.txt's SHA-256, no network used or needed.
# Run it from the wheelhouse folder that deploy/build-wheelhouse.sh made (docs/deploy.md):
#
#   sudo ./install.sh                       # /opt/kiosk/venv, plus the service: user kiosk,
#                                           # /var/lib/kiosk, kiosk.service, /usr/local/bin/kiosk
#   ./install.sh --prefix DIR --no-service  # a virtual environment in DIR/venv only
#
#   --prefix DIR       where the virtual environment goes (default: /opt/kiosk)
#   --no-service       skip the system user, folders, unit and command (no root needed)
#   --python PY        the Python 3.11+ to use (default: python3)
#   --wheelhouse DIR   the wheelhouse (default: the folder holding this script)
set -euo pipefail

WHEELHOUSE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=/opt/kiosk
PY=python3
SERVICE=1
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; shift 2 ;;
        --python) PY=$2; shift 2 ;;
        --wheelhouse) WHEELHOUSE=$(cd "$2" && pwd); shift 2 ;;
        --no-service) SERVICE=0; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$SERVICE" = 1 ] && [ "$(id -u)" -ne 0 ]; then
    echo "the service needs root: run with sudo, or add --no-service" >&2
    exit 1
fi

# Only this folder: no pip configuration file, no PIP_* variable (an index, extra
# find-links or a proxy set on this machine) may add another source.
for var in $(env | sed -n 's/^\(PIP_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$var"; done
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "needs Python 3.11 or newer (have: $("$PY" -V 2>&1))" >&2; exit 1; }
echo "== checking the wheelhouse: $WHEELHOUSE"
echo "   SHA-256 of SHA256SUMS: $(sha256sum "$WHEELHOUSE/SHA256SUMS" | cut -d' ' -f1)"
(cd "$WHEELHOUSE" && sha256sum --check --quiet SHA256SUMS)

VENV="$PREFIX/venv"
echo "== creating $VENV"
if [ -e "$VENV" ]; then
    [ -f "$VENV/pyvenv.cfg" ] || { echo "$VENV exists and is not a venv" >&2; exit 1; }
    rm -rf "$VENV"  # the program only: the event's data lives in /var/lib/kiosk
fi
mkdir -p "$PREFIX"
# Without pip: Debian's python3 lacks ensurepip unless python3-venv is installed, so pip
# is run from its own wheel in the wheelhouse and installs itself with the rest.
"$PY" -m venv --without-pip "$VENV"
PIP_WHEEL=$(ls "$WHEELHOUSE"/pip-*.whl | head -n 1)
"$VENV/bin/python" "$PIP_WHEEL/pip" install --quiet --no-index --find-links "$WHEELHOUSE" \
    --only-binary=:all: --require-hashes --no-cache-dir -r "$WHEELHOUSE/requirements.txt"
"$VENV/bin/python" -m pip check
"$VENV/bin/kiosk" --help >/dev/null
echo "   installed: $("$VENV/bin/python" -m pip list --format=freeze | grep -i '^interview-kiosk==')"

if [ "$SERVICE" = 0 ]; then
    echo "done: $VENV/bin/kiosk"
    exit 0
fi

echo "== the service: user kiosk, /var/lib/kiosk, kiosk.service, /usr/local/bin/kiosk"
if ! getent passwd kiosk >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/kiosk --no-create-home \
        --shell /usr/sbin/nologin kiosk
fi
install -d -o kiosk -g kiosk -m 0700 /var/lib/kiosk /var/lib/kiosk-backups
install -d -o root -g kiosk -m 0750 /var/lib/kiosk-import
sed "s#/opt/kiosk#$PREFIX#g" "$WHEELHOUSE/kiosk.service" > /etc/systemd/system/kiosk.service
chmod 0644 /etc/systemd/system/kiosk.service
sed "s#/opt/kiosk#$PREFIX#g" "$WHEELHOUSE/kiosk" > /usr/local/bin/kiosk
chmod 0755 /usr/local/bin/kiosk
cp "$WHEELHOUSE/README.md" "$PREFIX/README.md"
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable kiosk.service
fi
cat <<'NEXT'
done. Next (docs/deploy.md, "The day before"):
  sudo kiosk init --name "…"        # prints the organiser password
  sudo kiosk import --rooms /var/lib/kiosk-import/rooms.csv …
  sudo kiosk tls init
  sudo systemctl start kiosk
NEXT
