"""Coalesce the HTTP/1.1 chunks of one network read into one chunk, sans-I/O.

A streamed LLM response arrives as ``Transfer-Encoding: chunked`` with one chunk per
SSE event. httpcore's HTTP/1.1 layer (h11) turns every chunk into its own body event
and every body event goes up through five generator levels to the client: about
15-20 µs per SSE event on a 2-core machine, more than the whole SSE + JSON + typed
event pipeline above it. When the client runs behind the server, one socket read
holds hundreds of chunks.

:class:`Rechunker` sits between the socket and h11 (see
:mod:`streamkit.transport`): it rewrites the chunks *complete or partial* in one
read as **one** chunk of their concatenated data, so h11 and httpx handle one body
piece per read instead of one per event. Chunk boundaries carry no meaning in
HTTP/1.1 (RFC 9112 §7.1: intermediaries may re-chunk a body freely), so the body h11
decodes is byte-for-byte the same; chunk extensions, which nothing above reads, are
dropped. Nothing is ever held back waiting for more bytes apart from an incomplete
chunk-size line, so no latency is added.

Everything that is not a chunked body (request/response heads, 1xx responses,
``Content-Length`` bodies, trailers) is passed through unchanged. Whatever the
rechunker does not fully understand (a malformed or oversize chunk-size line, a
missing CRLF after a chunk, a close-delimited body) makes it pass every byte after
that point through untouched for the rest of the connection, so h11 sees the original
bytes there and raises its own error; correctness never depends on the rewrite.
"""

from __future__ import annotations

import re

__all__ = ["Rechunker"]

# Parser states.
_HEAD = 0  # reading a response head (passed through; scanned for framing headers)
_SIZE = 1  # at a chunk-size line
_DATA = 2  # inside chunk data (self._left bytes to go)
_DATA_END = 3  # at the CRLF after chunk data
_TRAILER = 4  # after the last chunk: trailer lines up to an empty line (passed through)
_COUNT = 5  # a Content-Length body (self._left bytes to go, passed through)
_PASS = 6  # passing everything through for the rest of the connection

#: Longest chunk-size line (with extensions) or response head scanned; beyond it the
#: rechunker steps aside (h11's own limits then apply).
_MAX_LINE = 4096
_MAX_HEAD = 64 * 1024
_HEX = frozenset(b"0123456789abcdefABCDEF")
#: A blank line ends a head or a trailer section: h11's own rule (LF or CRLF).
_BLANK_LINE = re.compile(rb"\n\r?\n")


class Rechunker:
    """Rewrite the response bytes of one HTTP/1.1 connection (client side).

    Call :meth:`sent` with every piece of bytes written to the connection and
    :meth:`received` with every piece read; pass what :meth:`received` returns on to
    the HTTP parser instead. Never raises: input it cannot follow is passed through.

    Attributes:
        coalesced: chunks folded into a previous chunk of the same read (a count,
            for tests and benchmarks).
    """

    __slots__ = ("_head", "_left", "_method", "_new_request", "_pending", "_state", "coalesced")

    def __init__(self) -> None:
        self._state = _HEAD
        self._left = 0
        self._pending = b""  # an incomplete chunk-size line, or the CR of a CRLF
        self._head = b""  # a response head or trailer section read so far (scanned)
        self._method = b""
        self._new_request = True
        self.coalesced = 0

    def sent(self, data: bytes) -> None:
        """Note bytes written: the request method decides whether a response has a body."""
        if self._new_request and data:
            self._method = data.split(b" ", 1)[0]
            self._new_request = False

    def received(self, data: bytes) -> bytes:
        """Return ``data`` with the chunks it holds coalesced.

        At EOF (``b""``) the bytes held back come out first, if any, and the next
        ``b""`` passes through (a socket at EOF keeps reading ``b""``). A non-empty input can
        also give ``b""``: when it holds only framing (the CRLF after chunk data) or
        ends inside a chunk-size line, which is held back (:attr:`holding`) until the
        rest arrives. Callers that treat ``b""`` as end of stream must read again then.
        """
        state = self._state
        if state == _PASS:
            return data
        if not data:  # EOF: hand over whatever was held back
            pending, self._pending = self._pending, b""
            self._state = _PASS
            return pending
        if state == _COUNT:
            if len(data) <= self._left:
                self._left -= len(data)
                if not self._left:
                    self._message_done()
                return data
            head, rest = data[: self._left], data[self._left :]
            self._left = 0
            self._message_done()
            return head + self.received(rest)
        if self._pending:
            data = self._pending + data
            self._pending = b""
        if state == _HEAD:
            return self._on_head(data)
        if state == _TRAILER:
            return self._on_trailer(data)
        return self._on_body(data)

    @property
    def holding(self) -> bool:
        """Whether bytes are held back (an incomplete chunk-size line)."""
        return bool(self._pending)

    # -- states ---------------------------------------------------------------------

    def _message_done(self) -> None:
        self._state = _HEAD
        self._head = b""
        self._new_request = True

    def _pass_from_here(self, out: bytes) -> bytes:
        self._state = _PASS
        return out

    def _keep_scanning(self, scanned: bytes, data: bytes) -> bytes:
        """No end of the head/trailers yet: pass ``data`` on, remember what was scanned."""
        if len(scanned) > _MAX_HEAD:
            return self._pass_from_here(data)
        self._head = scanned
        return data

    def _split(self, scanned: bytes, data: bytes, end: int) -> tuple[bytes, bytes]:
        """Split ``data`` where the section ending at ``scanned[end]`` ends."""
        self._head = b""
        split = end - (len(scanned) - len(data))
        return data[:split], data[split:]

    def _on_head(self, data: bytes) -> bytes:
        scanned = self._head + data
        if scanned[:1] == b"\n" or scanned[:2] == b"\r\n":
            return self._pass_from_here(data)  # not a status line: h11 judges it
        match = _BLANK_LINE.search(scanned)  # the end of the head, as h11 finds it
        if match is None:
            return self._keep_scanning(scanned, data)
        end = match.end()
        out, rest = self._split(scanned, data, end)  # the head's part is passed through
        state = self._framing(scanned[:end])
        if state == _PASS:
            return self._pass_from_here(out + rest)
        self._state = state
        if state == _HEAD:  # a 1xx response, or no body: the next head follows
            if rest:
                return out + self._on_head(rest)
            return out
        if not rest:
            return out
        if state == _COUNT:
            return out + self.received(rest)
        return out + self._on_body(rest)

    def _framing(self, head: bytes) -> int:
        """The state after this response head (RFC 9112 §6.3, message body length)."""
        lines = [line.removesuffix(b"\r") for line in head.split(b"\n")]
        status_line = lines[0].split(b" ", 2)
        if len(status_line) < 2 or not status_line[1].isdigit():
            return _PASS
        status = int(status_line[1])
        if status == 101:
            return _PASS  # switching protocols: what follows is not HTTP/1.1
        if 100 <= status < 200:
            return _HEAD  # interim: the final response follows
        if self._method == b"HEAD" or status in (204, 304):
            self._message_done()
            return _HEAD
        if self._method == b"CONNECT" and 200 <= status < 300:
            return _PASS  # a tunnel (httpcore starts TLS on a new stream anyway)
        chunked = False
        length: int | None = None
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                continue
            name = name.strip().lower()
            if name == b"transfer-encoding":
                codings = [c.strip().lower() for c in value.split(b",")]
                if codings[-1] != b"chunked":
                    return _PASS
                chunked = True
            elif name == b"content-length":
                value = value.strip()
                if not value.isdigit() or (length is not None and int(value) != length):
                    return _PASS
                length = int(value)
        if chunked:
            return _SIZE
        if length is not None:
            if length == 0:
                self._message_done()
                return _HEAD
            self._left = length
            return _COUNT
        return _PASS  # delimited by the connection closing

    def _on_body(self, data: bytes) -> bytes:
        parts: list[bytes] = []
        total = 0
        pos = 0
        size = len(data)
        state = self._state
        left = self._left
        chunks = 0
        find = data.find
        while pos < size:
            if state == _DATA:
                take = size - pos if size - pos < left else left
                parts.append(data[pos : pos + take])
                total += take
                pos += take
                left -= take
                if not left:
                    state = _DATA_END
            elif state == _DATA_END:
                if size - pos < 2:
                    if data[pos:] != b"\r":
                        return self._bail(parts, total, data, pos)
                    self._pending = b"\r"
                    pos = size
                    break
                if data[pos] != 13 or data[pos + 1] != 10:
                    return self._bail(parts, total, data, pos)
                pos += 2
                state = _SIZE
            else:  # _SIZE
                eol = find(b"\r\n", pos)
                if eol < 0:
                    if size - pos > _MAX_LINE:
                        return self._bail(parts, total, data, pos)
                    self._pending = data[pos:]
                    pos = size
                    break
                line = data[pos:eol]
                # exactly what h11 accepts (HEXDIG, then ";..." or nothing): anything
                # else goes through unchanged and h11 rejects it as it would have
                digits = line.split(b";", 1)[0]
                if not digits or len(digits) > 16 or not _HEX.issuperset(digits):
                    return self._bail(parts, total, data, pos)
                n = int(digits, 16)
                if n == 0:  # the last chunk: hand it and the trailers over as they are
                    self._state = _TRAILER
                    self._left = 0
                    self.coalesced += max(chunks - 1, 0)
                    return self._frame(parts, total) + self._on_trailer(data[pos:])
                chunks += 1
                pos = eol + 2
                state = _DATA
                left = n
        self._state = state
        self._left = left
        self.coalesced += max(chunks - 1, 0)
        return self._frame(parts, total)

    def _bail(self, parts: list[bytes], total: int, data: bytes, pos: int) -> bytes:
        """Hand over what was decoded, then the rest unchanged: h11 judges it."""
        self._state = _PASS
        return self._frame(parts, total) + data[pos:]

    @staticmethod
    def _frame(parts: list[bytes], total: int) -> bytes:
        if not total:
            return b""
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        return b"%x\r\n%s\r\n" % (total, body)

    def _on_trailer(self, data: bytes) -> bytes:
        r"""Pass the last-chunk line and the trailer section through up to their end.

        Both end at the first empty line: ``0\r\n\r\n``, or ``0\r\nName: v\r\n\r\n``.
        """
        scanned = self._head + data
        eol = scanned.find(b"\r\n")  # the end of the last-chunk line ("0" + extensions)
        end = -1
        if eol >= 0:
            after = scanned[eol + 2 : eol + 4]
            if after[:1] == b"\n":
                end = eol + 3  # no trailers (h11 also takes a bare LF here)
            elif after == b"\r\n":
                end = eol + 4  # no trailers
            elif len(after) == 2:
                match = _BLANK_LINE.search(scanned, eol + 2)  # trailers, then a blank line
                end = match.end() if match is not None else -1
        if end < 0:
            return self._keep_scanning(scanned, data)
        out, rest = self._split(scanned, data, end)
        self._message_done()
        return out + self._on_head(rest) if rest else out
