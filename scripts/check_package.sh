#!/usr/bin/env bash
# Check the distributions as a user gets them: build the wheel and the sdist, run
# `twine check`, look inside the wheel, install it with the cli,testing extras into a
# brand-new venv and run `streamkit demo` from there (no key, no network but the
# package index: the demo talks to a local server on 127.0.0.1).
#
#   scripts/check_package.sh            # or: make package-check
#
# Environment:
#   BUILD_PYTHON  a Python with `build` and `twine` (default: .venv/bin/python, else python3)
#   PYTHON        the interpreter for the clean venv (default: python3)
#   KEEP_DIST     a folder to copy the built wheel and sdist into (default: none)
set -euo pipefail

cd "$(dirname "$0")/.."
repo="$(pwd)"
BUILD_PYTHON="${BUILD_PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"
PYTHON="${PYTHON:-python3}"

work="$(mktemp -d "${TMPDIR:-/tmp}/streamkit-package.XXXXXX")"
trap 'rm -rf "$work"' EXIT
step() { printf '\n==> %s\n' "$*"; }

step "build the wheel and the sdist"
"$BUILD_PYTHON" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 || {
    cat "$work/build.log"
    exit 1
}
ls -l "$work/dist"
wheels=("$work"/dist/streamkit-*.whl)
sdists=("$work"/dist/streamkit-*.tar.gz)
[ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ] || { echo "expected one wheel" >&2; exit 1; }
[ "${#sdists[@]}" -eq 1 ] && [ -f "${sdists[0]}" ] || { echo "expected one sdist" >&2; exit 1; }
wheel="${wheels[0]}"
sdist="${sdists[0]}"

step "twine check"
"$BUILD_PYTHON" -m twine check --strict "$wheel" "$sdist"

step "look inside the distributions"
"$BUILD_PYTHON" - "$wheel" "$sdist" <<'EOF'
import sys
import tarfile
import zipfile

wheel, sdist = sys.argv[1], sys.argv[2]
names = set(zipfile.ZipFile(wheel).namelist())
required = {"streamkit/__init__.py", "streamkit/py.typed", "streamkit/prices.json",
            "streamkit/testing/__init__.py", "streamkit/providers/__init__.py"}
missing = sorted(required - names)
stray = sorted(n for n in names if n.startswith(("tests/", "docs/", "examples/", "src/"))
               or "__pycache__" in n or n.endswith(".pyc"))
entry = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
scripts = zipfile.ZipFile(wheel).read(entry).decode() if entry else ""
print(f"wheel: {len(names)} files")
if missing or stray or "streamkit = streamkit.cli:main" not in scripts:
    sys.exit(f"bad wheel: missing {missing}, stray {stray}, entry points {scripts!r}")
members = tarfile.open(sdist).getnames()
root = members[0].split("/")[0]
for path in ("src/streamkit/py.typed", "src/streamkit/prices.json", "pyproject.toml",
             "README.md", "LICENSE"):
    if f"{root}/{path}" not in members:
        sys.exit(f"bad sdist: no {path}")
print(f"sdist: {len(members)} files")
EOF

step "install the wheel with [cli,testing] into a clean venv"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${wheel}[cli,testing]"

step "run it from outside the repository"
cd "$work"
version="$("$work/venv/bin/python" -c "import streamkit; print(streamkit.__version__)")"
echo "streamkit $version from $("$work/venv/bin/python" -c "import streamkit; print(streamkit.__file__)")"
case "$(basename "$wheel")" in
    "streamkit-$version-"*) ;;
    *) echo "the wheel's name does not carry version $version" >&2; exit 1 ;;
esac
"$work/venv/bin/python" -c "import streamkit.testing, streamkit.cli"  # the extras' imports
"$work/venv/bin/streamkit" demo --delay 0 | tee "$work/demo.txt"
grep -q "resumed with strategy 'last-event-id'" "$work/demo.txt"
grep -q '^cost       \$' "$work/demo.txt"

if [ -n "${KEEP_DIST:-}" ]; then
    mkdir -p "$KEEP_DIST" && cp "$wheel" "$sdist" "$KEEP_DIST"/
fi
step "package check passed: streamkit $version"
