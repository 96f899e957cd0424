"""The streamkit command: demo, inspect, prices."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

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
    assert "$150.00" in rows["claude-sonnet-4-5"]  # genai-prices' name of Claude Sonnet 4.5
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


# ---- errors, version, reasoning, options -----------------------------------------------------


def chat(url: str, *extra: str, model: str = "gpt-4.1") -> tuple[int, str]:
    return run("chat", "Hi", "--model", model, "--base-url", url, *extra)


def test_bad_key_prints_one_line_and_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    from streamkit.testing import Fault, LocalServer

    with LocalServer(faults=[Fault.status(401)]) as server:
        code, out = chat(server.base_url, "--api-key", "sk-wrong-key-0123456789")
        attempts = len(server.requests)
    err = capsys.readouterr().err
    assert code == 1
    assert attempts == 1  # a 401 is not retried
    assert err.count("\n") == 1
    assert err.startswith("streamkit chat: AuthenticationError: HTTP 401 ")
    assert "Traceback" not in err
    assert "wrong-key-0123456789" not in err + out


def test_bad_key_in_a_real_process() -> None:
    from streamkit.testing import Fault, LocalServer

    with LocalServer(faults=[Fault.status(401)]) as server:
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "streamkit", "chat", "Hi", "--model", "gpt-4.1"),
                *("--base-url", server.base_url, "--api-key", "sk-wrong-key-0123456789"),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert proc.returncode == 1
    assert proc.stderr.startswith("streamkit chat: AuthenticationError: HTTP 401")
    assert len(proc.stderr.splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_an_error_mid_stream_is_one_line_after_the_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from streamkit.testing import Fault, LocalServer

    with LocalServer(faults=[Fault.malformed_json(5)]) as server:
        code, out = chat(server.base_url, "--api-key", "k")
    err = capsys.readouterr().err
    assert code == 1
    assert out  # the text before the error was printed
    assert err.startswith("streamkit chat: ChunkDecodeError: ")
    assert err.count("\n") == 1


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from streamkit import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"streamkit {__version__}"


def test_chat_options_reach_the_request() -> None:
    from streamkit.testing import LocalServer

    with LocalServer() as server:
        code, out = chat(
            server.base_url,
            "--api-key",
            "key-from-the-command-line",
            "--system",
            "Be brief.",
            "--max-tokens",
            "50",
        )
        [request] = server.requests
    assert code == 0, out
    assert request.headers["authorization"] == "Bearer key-from-the-command-line"
    assert request.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert request.json["max_tokens"] == 50


def test_max_tokens_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run("chat", "Hi", "--model", "m", "--max-tokens", "0")
    assert info.value.code == 2
    assert "--max-tokens" in capsys.readouterr().err


def _reasoner() -> tuple[str, str, bytes]:
    from streamkit.offline import decode_stream

    from conftest import read_real

    raw = read_real("deepseek-chat-reasoner.sse")
    _, result = decode_stream(raw)
    assert result.reasoning
    assert result.text
    return result.reasoning, result.text, raw


def test_reasoning_is_left_out_of_plain_output() -> None:
    from streamkit.testing import LocalServer

    reasoning, answer, raw = _reasoner()
    with LocalServer(raw) as server:
        code, out = chat(server.base_url, "--api-key", "k", model="deepseek-reasoner")
    assert code == 0
    assert answer in out
    assert reasoning[:40] not in out
    assert "[reasoning]" not in out


def test_show_reasoning_prints_it_apart_from_the_answer() -> None:
    from streamkit.testing import LocalServer

    reasoning, answer, raw = _reasoner()
    with LocalServer(raw) as server:
        code, out = chat(
            server.base_url, "--api-key", "k", "--show-reasoning", model="deepseek-reasoner"
        )
    assert code == 0
    assert out.startswith("[reasoning]\n" + reasoning)
    assert "\n[answer]\n" + answer in out


def test_reasoning_in_a_terminal_is_shown_dimmed_above_the_answer() -> None:
    from streamkit.cli import _Printer

    printer = _Printer(_Terminal())
    assert printer.live is not None
    shown: list[object] = []
    printer.live.update = shown.append  # what would be drawn
    with printer:
        printer.reasoning("Let me think.")
        printer.text("Hello")
    group = shown[-1]
    texts = [part for part in group.renderables]  # type: ignore[attr-defined]
    assert str(texts[0]) == "Let me think."
    assert "dim" in str(texts[0].style)
    assert str(texts[1]) == "Hello"
    assert "dim" not in str(texts[1].style)


def test_demo_without_the_testing_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "starlette"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    monkeypatch.setitem(sys.modules, "starlette", None)
    for name in [m for m in sys.modules if m.startswith("streamkit.testing")]:
        monkeypatch.delitem(sys.modules, name)
    code, _ = run("demo", "--delay", "0")
    err = capsys.readouterr().err
    assert code == 1
    assert 'pip install "streamkit[testing]"' in err
    assert "starlette" in err
    assert err.count("\n") == 1


def test_inspect_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _ = run("inspect", str(tmp_path / "nope.sse"))
    assert code == 1
    assert "cannot read" in capsys.readouterr().err


def test_tiny_costs_are_not_printed_as_zero() -> None:
    from streamkit.cli import _summary
    from streamkit.result import StreamResult

    lines = _summary(StreamResult(cost=Decimal("0.0000004")))
    assert "cost       $0.0000004 USD" in lines


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    # `streamkit demo | head -1`: the reader leaves after one line
    with subprocess.Popen(
        [sys.executable, "-m", "streamkit", "demo", "--no-fault", "--delay", "0.002"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert code == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
