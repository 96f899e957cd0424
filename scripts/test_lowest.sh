#!/usr/bin/env bash
# Run the test suite on the LOWEST versions of the runtime dependencies that
# pyproject.toml allows (`make test-lowest`; CI runs it too).
#
# A floor nobody installs is a guess: this script builds a separate virtualenv
# (.venv-lowest), pins every runtime dependency of [project].dependencies to the
# version its `>=` floor names (a pip constraints file generated from pyproject.toml),
# installs the project with its test dependencies (those may be any compatible
# version), checks that the floors really are what got installed, and runs pytest.
#
# Environment:
#   PYTHON        interpreter for the virtualenv (default: python3)
#   LOWEST_VENV   where the virtualenv lives (default: .venv-lowest)
#   PYTEST_ARGS   extra arguments for pytest (default: none)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${LOWEST_VENV:-.venv-lowest}"
BIN="$VENV/bin"

if [ ! -x "$BIN/python" ]; then
    "$PYTHON" -m venv "$VENV"
    "$BIN/python" -m pip install --quiet --upgrade pip
fi

# 1. The constraints: "name==floor" for each runtime dependency.
CONSTRAINTS="$VENV/constraints-lowest.txt"
"$BIN/python" - "$CONSTRAINTS" <<'PY'
import re
import sys
import tomllib

with open("pyproject.toml", "rb") as f:
    deps = tomllib.load(f)["project"]["dependencies"]
lines = []
for dep in deps:
    match = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$", dep)
    if match is None:
        sys.exit(f"cannot read dependency {dep!r}")
    name, spec = match.group(1), match.group(3)
    floor = re.search(r">=\s*([0-9][^,;\s]*)", spec)
    if floor is None:
        sys.exit(f"runtime dependency {dep!r} declares no '>=' floor")
    lines.append(f"{name}=={floor.group(1)}")
with open(sys.argv[1], "w") as f:
    f.write("\n".join(lines) + "\n")
print("lowest runtime dependencies:", ", ".join(lines))
PY

# 2. Dev tools that need a runtime dependency newer than its floor, and where to stop
#    them (they are test tools, so any version compatible with the floors will do).
#    - pytest-httpx pins one httpx minor per release: 0.30 is the one for httpx 0.27.
#    - openai >= 2 and anthropic >= 1 moved to httpx2 and need anyio >= 4.10, pydantic
#      >= 2.11: the last releases on httpx 0.x are the ones to test against the floors.
#    - starlette >= 1 wants httpx2 for its TestClient (a deprecation warning with httpx).
TOOLS="$VENV/constraints-tools.txt"
cat > "$TOOLS" <<'EOF'
pytest-httpx<0.31
openai<2
anthropic<1
starlette<1
EOF

# 3. Install (quietly; pip's resolver does the rest) and check the floors are installed.
"$BIN/python" -m pip install --quiet -c "$CONSTRAINTS" -c "$TOOLS" -e ".[dev]"
"$BIN/python" - "$CONSTRAINTS" <<'PY'
import importlib.metadata as metadata
import sys

from packaging.version import Version

wrong = []
for line in open(sys.argv[1]).read().split():
    name, _, floor = line.partition("==")
    installed = metadata.version(name)
    if Version(installed) != Version(floor):
        wrong.append(f"{name} {installed} (floor {floor})")
if wrong:
    sys.exit("not at the floor: " + ", ".join(wrong))
print("installed at the floors: ok")
PY

# 4. The suite. Benchmarks are not tests; the recordings are found as usual (conftest).
# shellcheck disable=SC2086
"$BIN/python" -m pytest -q -x -p no:cacheprovider ${PYTEST_ARGS:-}
