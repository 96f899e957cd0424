"""``streamkit demo --websocket``: the demo answer over a WebSocket, dropped and resumed."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from streamkit.cli import main
from streamkit.testing import DEMO_TEXT

#: A notice line of the plain (non-terminal) output, as ``_Printer.notice`` writes it.
NOTICE = re.compile(r"\n\[(?:attempt \d+ failed|resumed with)[^\]\n]*\]\n")
RULE = "─" * 60


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def answer_of(text: str) -> str:
    """The streamed answer: between the header's blank line and the summary, notices removed."""
    body = text.split("\n\n", 1)[1].split(f"\n\n{RULE}", 1)[0]
    return NOTICE.sub("", body).removesuffix("\n")


def test_the_websocket_demo_drops_the_socket_and_resumes() -> None:
    code, text = run("demo", "--websocket", "--delay", "0")
    assert code == 0
    assert "Responses WebSocket mode" in text
    assert "ws://127.0.0.1:" in text and "/v1/responses" in text
    assert "[attempt 1 failed (WebSocketClosedError); retrying in" in text
    assert re.search(r"\[resumed with strategy 'replay' after \d+ characters \(attempt 2\)\]", text)
    assert answer_of(text) == DEMO_TEXT  # nothing lost, nothing repeated at the seam
    assert text.count("That is the whole job") == 1
    assert "tokens     input" in text
    assert "cost       $" in text
    assert "attempts   2" in text
    assert "sockets    2 opened" in text


def test_the_websocket_demo_without_fault() -> None:
    code, text = run("demo", "--websocket", "--delay", "0", "--no-fault")
    assert code == 0
    assert "resumed" not in text and "drops the socket" not in text
    assert answer_of(text) == DEMO_TEXT
    assert "attempts   1" in text
    assert "sockets    1 opened" in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_websocket_demo_in_a_terminal_shows_the_resume_live() -> None:
    pytest.importorskip("rich")
    out = _Terminal()
    code = main(["demo", "--websocket", "--delay", "0"], out=out)
    assert code == 0
    text = out.getvalue()
    assert " tokens · " in text  # the live status line
    assert "resumed with strategy 'replay'" in text
    assert "sockets    2 opened" in text


def test_the_websocket_demo_in_a_real_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "streamkit", "demo", "--websocket", "--delay", "0"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "resumed with strategy 'replay'" in proc.stdout
    assert answer_of(proc.stdout) == DEMO_TEXT
    assert proc.stderr == ""


def test_without_the_websocket_extra_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "httpx_ws"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    monkeypatch.setitem(sys.modules, "httpx_ws", None)
    code, text = run("demo", "--websocket", "--delay", "0")
    err = capsys.readouterr().err
    assert code == 1
    assert 'pip install "streamkit[websocket]"' in err
    assert "httpx_ws" in err
    assert err.count("\n") == 1
    assert text == ""  # nothing was served or printed before the check
