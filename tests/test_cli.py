"""The streamkit command: demo, inspect, prices."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from streamkit.cli import main

from conftest import manifest, real_dir


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_demo_streams_resumes_and_reports() -> None:
    code, text = run("demo", "--delay", "0")
    assert code == 0
    assert "resumed with strategy 'last-event-id'" in text
    assert "## Why streaming needs a resumable transport" in text
    assert "tokens     input" in text
    assert "cost       $" in text
    assert "attempts   2" in text
    # the answer is printed once: no fragment repeated at the seam
    assert text.count("That is the whole job") == 1


def test_demo_without_fault() -> None:
    code, text = run("demo", "--delay", "0", "--no-fault")
    assert code == 0
    assert "resumed" not in text
    assert "attempts   1" in text


def test_prices_for_ten_million_output_tokens() -> None:
    code, text = run("prices", "--output-tokens", "10M")
    assert code == 0
    rows = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "$80.00" in rows["gpt-4.1"]
    assert "$150.00" in rows["claude-sonnet-4.5"]
    assert "$25.00" in rows["gemini-2.5-flash"]
    assert "$4.20" in rows["deepseek-v3.2"]


def test_prices_rejects_garbage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("prices", "--output-tokens", "lots")
    assert code == 2
    assert "lots" in capsys.readouterr().err


@pytest.mark.parametrize("entry", manifest() or [{"file": "<recordings missing>"}])
def test_inspect_every_recording(entry: dict[str, str]) -> None:
    path = real_dir() / entry["file"]
    code, text = run("inspect", str(path))
    assert text.startswith(f"# {path}: dialect {entry['dialect']}")
    if entry["outcome"] == "complete":
        assert code == 0, text[-2000:]
        result = json.loads(text[text.index("result:\n") + len("result:\n") :])
        assert result["complete"] is True
    else:
        assert code == 1
        assert "ProviderError" in text


def test_python_dash_m_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "streamkit", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "demo" in proc.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_demo_in_a_terminal_shows_a_live_token_counter() -> None:
    out = _Terminal()
    code = main(["demo", "--delay", "0"], out=out)
    assert code == 0
    text = out.getvalue()
    assert " tokens · " in text  # the live status line: tokens so far and elapsed seconds
    assert "resumed with strategy 'last-event-id'" in text
    assert "cost       $" in text
