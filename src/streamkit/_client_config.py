"""ClientConfig: a client's options, checked when the client is built (no I/O).

Both clients resolve and check their options here, so that a mistake raises at
construction, before any request is sent, with a message that names the problem
and the fix (as openai-python does for a missing key and httpx for a URL without
a scheme). Per request, :meth:`ClientConfig.new_session` checks ``model``,
``messages`` and the extra body fields before building the request.
"""

from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from streamkit._secret import SECRET_HEADERS, RedactedStr, Secret, redact_url
from streamkit.config import Timeouts
from streamkit.errors import ConfigurationError, register_secret
from streamkit.providers import Dialect, get, names
from streamkit.retry import RetryPolicy
from streamkit.session import ResumeMode, StreamSession, prompt_chars
from streamkit.tracker import open_account

if TYPE_CHECKING:
    from streamkit.tracker import CostTracker

__all__ = ["PROVIDER_ALIASES", "ClientConfig", "TimeoutArg"]

_RESUME_MODES = ("auto", "last-event-id", "prefill", "replay", "off")

#: Short names accepted for ``provider=``.
PROVIDER_ALIASES = {
    "openai": "openai-chat",
    "chat": "openai-chat",
    "anthropic": "anthropic-messages",
    "claude": "anthropic-messages",
    "responses": "openai-responses",
    "google": "gemini",
}

#: Environment variables naming a provider's base URL, read after ``STREAMKIT_BASE_URL``
#: (as the provider SDKs read them).
_BASE_URL_ENV = {
    "openai-chat": ("OPENAI_BASE_URL",),
    "openai-responses": ("OPENAI_BASE_URL",),
    "anthropic-messages": ("ANTHROPIC_BASE_URL",),
    "gemini": ("GEMINI_BASE_URL",),
}

#: Body fields streamkit sets itself.
_RESERVED_PARAMS = {
    "stream": "streamkit always streams (it sets `stream` itself); drop the argument",
    "stream_options": (
        "streamkit sets `stream_options` itself (it asks for usage in the stream); "
        "drop the argument"
    ),
}

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 §5.6.2 header name

TimeoutArg = Timeouts | float | int | Any | None
"""``timeout=``: :class:`~streamkit.Timeouts`, a number of seconds (the total time
limit), an ``httpx.Timeout``/``httpx2.Timeout``, or ``None`` for the defaults."""


def resolve_provider(provider: str) -> tuple[str, Dialect]:
    """The registered name and dialect for ``provider`` (aliases accepted).

    Raises:
        ConfigurationError: unknown provider; the message lists the known ones.
    """
    if not isinstance(provider, str):
        raise ConfigurationError(f"provider must be a string, got {type(provider).__name__}")
    name = PROVIDER_ALIASES.get(provider.strip().lower(), provider)
    try:
        return name, get(name)
    except ValueError:
        aliases = ", ".join(f"{k!r} → {v!r}" for k, v in PROVIDER_ALIASES.items())
        raise ConfigurationError(
            f"unknown provider {provider!r}; choose one of {', '.join(map(repr, names()))} "
            f"(aliases: {aliases})"
        ) from None


def resolve_timeouts(timeout: TimeoutArg) -> Timeouts:
    """Turn ``timeout=`` into :class:`Timeouts` (see :data:`TimeoutArg`).

    Raises:
        ConfigurationError: a value of another type, or a non-positive number.
    """
    if timeout is None:
        return Timeouts()
    if isinstance(timeout, Timeouts):
        return timeout
    if isinstance(timeout, bool):
        raise ConfigurationError("timeout must be a number of seconds, Timeouts or httpx.Timeout")
    try:
        if isinstance(timeout, int | float):
            return Timeouts(total=float(timeout))
        if all(hasattr(timeout, a) for a in ("connect", "read", "write", "pool")):
            # httpx.Timeout / httpx2.Timeout: connect and read bound the same things here
            return Timeouts(connect=timeout.connect, read_idle=timeout.read, total=None)
    except ValueError as err:
        raise ConfigurationError(f"timeout: {err}") from None
    raise ConfigurationError(
        f"timeout must be a number of seconds (the total limit), streamkit.Timeouts or "
        f"httpx.Timeout, got {type(timeout).__name__}"
    )


def check_base_url(base_url: str) -> tuple[str, RedactedStr | None]:
    """Check that ``base_url`` can be requested; split off its userinfo.

    Returns:
        The URL without userinfo and without a trailing ``/``, and the
        ``Authorization: Basic`` value its userinfo means (as httpx would send it),
        or ``None``. The password then lives only in that redacted value, never in
        a URL that httpx holds (httpx's ``Request.__repr__`` shows passwords).

    Raises:
        ConfigurationError: not a string, no ``http://``/``https://`` scheme, no host,
            a bad port, or whitespace/control characters (the message masks a password).
    """
    if not isinstance(base_url, str):
        raise ConfigurationError(f"base_url must be a string, got {type(base_url).__name__}")
    shown = redact_url(base_url)
    if not base_url.isprintable() or any(c.isspace() for c in base_url):
        raise ConfigurationError(f"base_url {shown!r} contains whitespace or control characters")
    scheme, host, problem = _url_parts(base_url)
    if problem is not None:
        raise ConfigurationError(f"base_url {shown!r} is not a valid URL: {problem}")
    if scheme not in ("http", "https"):
        hint = ""
        if not scheme or "://" not in base_url:
            hint = f"; did you mean 'https://{shown}' (or 'http://' for a local server)?"
        elif scheme in ("ws", "wss"):
            hint = "; WebSocket URLs go to client.connect(), not base_url"
        raise ConfigurationError(f"base_url {shown!r} must start with http:// or https://{hint}")
    if not host:
        raise ConfigurationError(f"base_url {shown!r} has no host")
    return _split_userinfo(base_url.rstrip("/"))


def _url_parts(url: str) -> tuple[str, str | None, str | None]:
    """(scheme, host, problem) of ``url``; no local of the caller holds the password."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
        return parts.scheme, parts.hostname, None
    except ValueError as err:
        return "", None, str(err)


def _split_userinfo(url: str) -> tuple[str, RedactedStr | None]:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    plain = urlunsplit(parts._replace(netloc=netloc))
    userinfo = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    basic = RedactedStr("Basic " + base64.b64encode(userinfo.encode()).decode("ascii"))
    return plain, basic


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Check extra headers; credential values are wrapped so that they never print.

    Raises:
        ConfigurationError: a name that is not an HTTP token, or a value with CR, LF,
            another control character or a non-ASCII character (the message names the
            header, never its value).
    """
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ConfigurationError(f"header name {name!r} is not a valid HTTP header name")
        if not isinstance(value, str):
            raise ConfigurationError(
                f"header {name!r} must have a str value, got {type(value).__name__}"
            )
        if not _header_value_ok(value):
            raise ConfigurationError(
                f"header {name!r} has a value with CR, LF, another control character or a "
                "non-ASCII character, which HTTP cannot send (value not shown)"
            )
        checked[name] = RedactedStr(value) if name.lower() in SECRET_HEADERS else value
    return checked


def _header_value_ok(value: str) -> bool:
    return value.isascii() and value.replace("\t", " ").isprintable()


class ClientConfig:
    """Resolved, checked client options shared by both clients.

    Raises (from the constructor):
        ConfigurationError: see :func:`resolve_provider`, :func:`check_base_url`,
            :func:`check_headers`, :func:`resolve_timeouts`; an unknown ``resume``; no
            API key found; a key with CR/LF, control or non-ASCII characters.
    """

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: Secret | str | None,
        provider: str,
        retry: RetryPolicy | None,
        timeout: TimeoutArg,
        tracker: CostTracker | None,
        resume: ResumeMode,
        headers: Mapping[str, str] | None,
    ) -> None:
        key = Secret(api_key) if isinstance(api_key, str) else api_key
        del api_key  # from here on only the Secret holds it (no frame local shows it)
        self.provider, self.dialect = resolve_provider(provider)
        _check_resume(resume)
        if base_url is None:
            base_url = os.environ.get("STREAMKIT_BASE_URL") or next(
                (os.environ[v] for v in _BASE_URL_ENV.get(self.provider, ()) if os.environ.get(v)),
                self.dialect.default_base_url,
            )
        self.base_url, self._basic_auth = check_base_url(base_url)
        self._shown_url = redact_url(base_url)
        del base_url
        self._api_key = key if key is not None else self._key_from_env()
        if self._api_key.has_bad_characters():
            raise ConfigurationError(
                "the API key contains CR, LF, another control character or a non-ASCII "
                "character (often a newline read from a file: strip it); key not shown"
            )
        register_secret(self._api_key.redacted())
        if self._basic_auth is not None:
            register_secret(self._basic_auth.reveal().partition(" ")[2])
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        self.retry = retry or RetryPolicy()
        self.timeout = resolve_timeouts(timeout)
        self.tracker = tracker
        self.resume: ResumeMode = resume
        self.headers = check_headers(headers)

    def _key_from_env(self) -> Secret:
        variables = ("STREAMKIT_API_KEY", *self.dialect.api_key_env)
        for variable in variables:
            if os.environ.get(variable):
                return Secret(os.environ.get(variable))
        raise ConfigurationError(
            f"no API key for provider {self.provider!r}: pass api_key=..., or set "
            f"{' or '.join(variables)}; for a server that needs none (vLLM, llama.cpp, "
            "a local relay) pass api_key=''"
        )

    def new_session(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        resume: ResumeMode | None,
        params: Mapping[str, Any],
        dialect: Dialect | None = None,
        url: str | None = None,
    ) -> StreamSession:
        """Check one ``stream()`` call's arguments and build its sans-I/O session.

        ``dialect`` and ``url`` replace the client's dialect and ``base_url`` (a
        WebSocket connection's dialect and socket URL).

        Raises:
            TypeError: ``model`` is not a non-empty string, ``messages`` is not a list
                of mappings, or ``params`` holds ``stream``/``stream_options``.
            ValueError: NaN or infinity in ``messages`` or ``params`` (not JSON), or
                an unknown ``resume``.
        """
        check_request(model, messages, params)
        if resume is not None:
            _check_resume(resume)
        dialect = dialect or self.dialect
        spec = dialect.build_request(
            base_url=url or self.base_url,
            api_key=self._api_key.redacted(),
            model=model,
            messages=messages,
            params=params,
        )
        if self._basic_auth is not None:  # userinfo in base_url, as httpx would send it
            spec = spec.with_headers({"Authorization": self._basic_auth})
        if self.headers:
            spec = spec.with_headers(self.headers)
        spec = spec.with_redacted_credentials()
        chars = prompt_chars(messages)
        account = open_account(  # priced even without a tracker (result.cost)
            self.tracker,
            model=model,
            provider=self.provider,
            messages=messages,
            params=params,
            api_url=self.base_url,
        )
        return StreamSession(
            dialect=dialect,
            request=spec,
            retry=self.retry,
            timeouts=self.timeout,
            resume=resume or self.resume,
            prompt_chars=chars,
            account=account,
        )

    def __repr__(self) -> str:
        get = self.__dict__.get  # robust while __init__ is still running (a frame local)
        return (
            f"provider={get('provider')!r}, base_url={get('_shown_url')!r}, "
            f"api_key={get('_api_key')!r}, resume={get('resume')!r}"
        )


def _check_resume(resume: object) -> None:
    if resume not in _RESUME_MODES:
        raise ConfigurationError(
            f"resume must be one of {', '.join(_RESUME_MODES)}, got {resume!r}"
        )


def check_request(model: object, messages: object, params: Mapping[str, Any]) -> None:
    """Check a request's arguments before anything is built or sent.

    Raises:
        TypeError: ``model`` is not a non-empty string without control characters;
            ``messages`` is not a list (or tuple) of mappings; ``params`` holds a field
            streamkit sets itself (``stream``, ``stream_options``).
        ValueError: NaN or infinity anywhere in ``messages`` or ``params``.
    """
    if not isinstance(model, str) or not model.strip() or not model.isprintable():
        raise TypeError(
            f"model must be a non-empty string such as 'gpt-4.1', got {model!r} "
            f"({type(model).__name__})"
        )
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise TypeError(
            "messages must be a list of mappings such as "
            f"[{{'role': 'user', 'content': 'Hi'}}], got {type(messages).__name__}"
        )
    for position, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(
                f"messages[{position}] must be a mapping such as "
                f"{{'role': 'user', 'content': 'Hi'}}, got {type(message).__name__}"
            )
    for name, reason in _RESERVED_PARAMS.items():
        if name in params:
            raise TypeError(f"{name}= is not accepted: {reason}")
    _check_finite(messages, "messages")
    for name, value in params.items():
        _check_finite(value, name)


def _check_finite(value: object, path: str, depth: int = 0) -> None:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} is {value!r}, which JSON cannot carry")
    elif depth > 64:
        return  # deeper structures are the JSON encoder's concern
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _check_finite(v, f"{path}[{k!r}]", depth + 1)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_finite(v, f"{path}[{i}]", depth + 1)
