#!/usr/bin/env bash
# Build the offline installer: the kiosk's own wheel and every wheel it needs, pinned by
# deploy/requirements.lock and hashed, plus install.sh, in one folder to carry to the
# venue (docs/deploy.md). Run it on any connected machine with the same processor type
# as the kiosk laptop (x86_64 or aarch64) and Python 3.11 or newer:
#
#   deploy/build-wheelhouse.sh [--out DIR] [--relock] [--python-version X.Y --platform TAG]
#
#   --out DIR           the wheelhouse folder (default: ./wheelhouse); its wheels are replaced
#   --relock            first re-resolve deploy/requirements.lock from setup.cfg (newest
#                       allowed versions); commit the new lock with the change that needs it
#   --python-version, --platform
#                       build for another laptop (e.g. 3.12, manylinux_2_34_x86_64); the
#                       offline install check is then skipped
#
# PYTHON (default: python3) is the interpreter whose pip downloads, with its own pip
# configuration (index, proxy, cache). Only wheels are taken, never source archives: the
# laptop has no compiler to rely on.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCK="$ROOT/deploy/requirements.lock"
PYTHON=${PYTHON:-python3}
OUT=wheelhouse
RELOCK=0
TARGET=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        --relock) RELOCK=1; shift ;;
        --python-version|--platform) TARGET+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "needs Python 3.11 or newer as PYTHON (have: $("$PYTHON" -V 2>&1))" >&2; exit 1; }
"$PYTHON" -m pip --version >/dev/null \
    || { echo "$PYTHON has no pip: set PYTHON to a virtual environment's python" >&2; exit 1; }
pip() { "$PYTHON" -m pip --disable-pip-version-check "$@"; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ "$RELOCK" = 1 ]; then
    echo "== resolving the newest allowed versions into $LOCK"
    pip install --quiet --dry-run --ignore-installed --only-binary=:all: \
        --report "$WORK/report.json" "$ROOT"
    "$PYTHON" - "$WORK/report.json" "$LOCK" <<'PY'
import json, re, sys
report, lock = sys.argv[1:]
pins = sorted(
    (re.sub(r"[-_.]+", "-", i["metadata"]["name"]).lower(), i["metadata"]["version"])
    for i in json.load(open(report))["install"]
    if not i.get("is_direct")  # the kiosk itself is built, not pinned
)
with open(lock, "w") as out:
    out.write("# Every package the kiosk runs with, pinned: deploy/build-wheelhouse.sh downloads\n")
    out.write("# exactly these. Made by `deploy/build-wheelhouse.sh --relock`; do not edit by hand.\n")
    out.writelines(f"{name}=={version}\n" for name, version in pins)
PY
fi

echo "== building the kiosk's own wheel"
# From a clean copy: setuptools reuses a stale build/ folder, which could ship deleted files.
mkdir "$WORK/src"
tar -C "$ROOT" --exclude=./.git --exclude=./.venv --exclude=./build --exclude='*.egg-info' \
    --exclude=./instance --exclude=./wheelhouse --exclude=__pycache__ -cf - . \
    | tar -C "$WORK/src" -xf -
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/*.whl
pip wheel --quiet --no-deps --wheel-dir "$OUT" "$WORK/src"

echo "== downloading the pinned wheels"
pip download --quiet --no-deps --only-binary=:all: ${TARGET[@]+"${TARGET[@]}"} \
    --dest "$OUT" -r "$LOCK"

echo "== writing requirements.txt with the SHA-256 of every wheel"
"$PYTHON" - "$OUT" "$LOCK" <<'PY'
import hashlib, pathlib, re, sys
out, lock = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
canon = lambda name: re.sub(r"[-_.]+", "-", name).lower()
pins = {}
for line in lock.read_text().splitlines():
    if line.strip() and not line.startswith("#"):
        name, version = line.split("==")
        pins[canon(name)] = version.strip()
found = {}
for wheel in sorted(out.glob("*.whl")):
    name, version = wheel.name.split("-")[:2]
    name = canon(name)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if name != "interview-kiosk" and pins.get(name) != version:
        sys.exit(f"{wheel.name} is not pinned in {lock}")
    found.setdefault((name, version), []).append(digest)
missing = set(pins.items()) - set(found)
if missing:
    sys.exit(f"no wheel downloaded for {sorted(missing)}")
lines = ["# Install with install.sh: pip --no-index --require-hashes against this folder only.\n"]
for (name, version), digests in sorted(found.items()):
    hashes = " ".join(f"--hash=sha256:{d}" for d in digests)
    lines.append(f"{name}=={version} {hashes}\n")
(out / "requirements.txt").write_text("".join(lines))
PY

cp "$ROOT/deploy/install.sh" "$ROOT/deploy/kiosk.service" "$ROOT/deploy/kiosk" "$OUT/"
cp "$ROOT/deploy/README.md" "$OUT/README.md"

if [ ${#TARGET[@]} -eq 0 ]; then
    echo "== checking that the wheelhouse installs with no index"
    env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
        "$PYTHON" -m pip install --quiet --dry-run --ignore-installed --no-index \
        --find-links "$OUT" --only-binary=:all: --require-hashes -r "$OUT/requirements.txt"
fi

(cd "$OUT" && sha256sum -- *.whl requirements.txt install.sh kiosk.service kiosk README.md \
    > SHA256SUMS)
echo "wheelhouse ready: $OUT ($(ls "$OUT"/*.whl | wc -l) wheels)"
echo "SHA-256 of SHA256SUMS (write it down; install.sh prints it too):"
echo "  $(sha256sum "$OUT/SHA256SUMS" | cut -d' ' -f1)"
