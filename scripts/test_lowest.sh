#!/usr/bin/env bash
# Run the test suite on the LOWEST versions of the runtime dependencies that
# pyproject.toml allows (`make test-lowest`; CI runs it too).
#
# A floor nobody installs is a guess: this script builds a separate virtualenv
# (.venv-lowest), pins every runtime dependency of [project].dependencies to the
# version its `>=` floor names (a pip constraints file generated from pyproject.toml),
# installs the project with its test dependencies (the `dev` extra; those may be any
# compatible version), checks that the floors really are what got installed, and runs
# pytest. Peers that cannot live next to the floors (httpx2) are left out, and so are
# the tests that use them.
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

# 2. What the tests need: the `dev` extra (the extras it names expanded), less the
#    peers that cannot be installed next to the floors. httpx2 (the `httpx2` extra)
#    and httpx-ws (the `websocket` extra: 0.10 declares anyio >= 4.10, and 0.9 needs it
#    without saying so) need anyio >= 4.10, above the anyio floor; their tests are
#    left out in step 4.
REQUIREMENTS="$VENV/requirements-test.txt"
"$BIN/python" - "$REQUIREMENTS" <<'PY'
import re
import sys
import tomllib

EXCLUDED = {"httpx2", "websocket"}  # extras and packages left out (both need anyio >= 4.10)

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
extras = project["optional-dependencies"]
self_ref = re.compile(rf"^{re.escape(project['name'])}\[([^\]]*)\]$")


def expand(extra: str, seen: set[str]) -> list[str]:
    out = []
    for req in extras[extra]:
        match = self_ref.match(req.strip())
        if match is None:
            package = re.split(r"[\[<>=!~;\s]", req.strip(), maxsplit=1)[0]
            if package.lower() not in EXCLUDED:
                out.append(req)
            continue
        for sub in (s.strip() for s in match.group(1).split(",")):
            if sub not in EXCLUDED and sub not in seen:
                seen.add(sub)
                out.extend(expand(sub, seen))
    return out


with open(sys.argv[1], "w") as f:
    f.write("\n".join(expand("dev", {"dev"})) + "\n")
PY

#    Test tools that need a runtime dependency newer than its floor are held back
#    (any version compatible with the floors will do for a test tool):
#    - pytest-httpx pins one httpx minor per release: 0.30 is the one for httpx 0.27;
#    - openai >= 2 and anthropic >= 1 moved to httpx2 (anyio >= 4.10, newer pydantic):
#      their last releases on httpx 0.x are the ones to test against the floors;
#    - starlette >= 1 wants httpx2 for its TestClient (a deprecation warning with httpx).
TOOLS="$VENV/constraints-tools.txt"
printf '%s\n' "pytest-httpx<0.31" "openai<2" "anthropic<1" "starlette<1" > "$TOOLS"

# 3. Install (pip's resolver does the rest) and check the floors are what got installed.
"$BIN/python" -m pip install --quiet -c "$CONSTRAINTS" -c "$TOOLS" -e . -r "$REQUIREMENTS"
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

# 4. The suite, less the tests that need a peer the floors exclude: httpx2 clients and
#    WebSocket streaming (not installed, see step 2) and pytest-httpx's `is_reusable` (pytest-httpx >= 0.32,
#    which needs httpx 0.28). The recordings are found as usual (tests/conftest.py).
# shellcheck disable=SC2086
"$BIN/python" -m pytest -q -x -p no:cacheprovider -k "not httpx2 and not pytest_httpx" \
    --ignore-glob='tests/test_*websocket*.py' \
    ${PYTEST_ARGS:-}
