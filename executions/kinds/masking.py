"""Mask secrets in captured output and keep it within a size limit.

Masking happens before truncation, so a secret can never be cut in half by the truncation
marker and leak its other half. Both work on a stream too (``OutputCollector``): captured
output of any size passes through in constant memory, keeping only the head and the tail.

Text becomes UTF-8 bytes here: an invalid byte sequence (``write_bytes``) and a lone surrogate
in a str (a callable's return value, say) become U+FFFD, as a terminal shows them.

Truncation keeps the first ``limit // 2`` bytes and the last ``limit - limit // 2`` bytes of
the UTF-8 encoded (masked) text and puts the marker ``…[N bytes truncated]…`` between them,
on its own line, where N is the number of bytes left out. The kept parts add up to at most
``limit`` bytes; the marker comes on top. Characters cut at the edges are dropped whole.
"""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Callable, Iterable

MASK = "***"


def _pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """Return a regex matching any non-empty secret, longest first, or ``None``."""
    unique = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
    if not unique:
        return None
    return re.compile("|".join(re.escape(secret) for secret in unique))


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret in ``text`` with ``***``."""
    pattern = _pattern(secrets)
    return text if pattern is None else pattern.sub(MASK, text)


def _utf8(text: str) -> bytes:
    """Encode text as UTF-8; a lone surrogate (a str may hold one, bytes cannot) becomes U+FFFD, a pair its character."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8")


def truncation_marker(omitted: int) -> str:
    """Return the marker put where ``omitted`` bytes were left out."""
    return f"\n…[{omitted} bytes truncated]…\n"


def truncate(text: str, limit: int) -> str:
    """Keep the head and tail of ``text`` within ``limit`` UTF-8 bytes, marking the cut."""
    collector = OutputCollector(limit=limit)
    collector.write(text)
    return collector.getvalue()


class OutputCollector:
    """A write-only text stream that masks secrets and keeps only a head and a tail.

    1. ``write`` appends to ``_pending``; everything except the last ``longest secret - 1``
       characters is masked and released, since no secret starting there can still grow.
       A match that starts in the released part is always complete in the buffer, so the
       stream masks exactly like ``mask`` does on the whole text.
    2. Released text is encoded; the first ``limit // 2`` bytes fill the head, the rest goes
       to a tail buffer trimmed to its last ``limit - limit // 2`` bytes.
    3. A lock makes ``write`` safe from several threads (``print`` from a callable's threads).
    """

    def __init__(self, secrets: Iterable[str] = (), limit: int = 65536) -> None:
        secrets = tuple(secrets)
        self._pattern = _pattern(secrets)
        self._hold = max((len(secret) for secret in secrets if secret), default=1) - 1
        self.limit = max(0, limit)
        self._head_size = self.limit // 2
        self._tail_size = self.limit - self._head_size
        self._head = bytearray()
        self._tail = bytearray()
        self._pending = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lock = threading.Lock()
        self.total_bytes = 0
        self._last_char = "\n"

    # -- text-stream protocol (enough for print and redirect_stdout) ---------------------
    def write(self, text: str) -> int:
        """Take ``text`` in; return its length as a text stream does."""
        if not isinstance(text, str):
            text = str(text)
        with self._lock:
            self._pending += text
            if text:
                self._last_char = text[-1]
            self._release(final=False)
        return len(text)

    def write_bytes(self, data: bytes) -> None:
        """Take raw UTF-8 bytes in (invalid sequences become U+FFFD)."""
        self.write(self._decoder.decode(data))

    def flush(self) -> None:
        """Do nothing; output is kept until ``getvalue``."""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def at_line_start(self) -> bool:
        """Whether nothing was written yet or the last text ended with a newline."""
        return self._last_char == "\n"

    # -- results --------------------------------------------------------------------------
    @property
    def truncated(self) -> bool:
        """Whether some output was left out."""
        return self.total_bytes > self.limit

    def getvalue(self) -> str:
        """Return the masked head and tail, with the truncation marker if anything was cut."""
        with self._lock:
            self._pending += self._decoder.decode(b"", final=True)
            self._release(final=True)
            return self._view()

    def snapshot(self) -> str:
        """Return what is released so far (a possible secret's start is held back), as `getvalue` shows it."""
        with self._lock:
            return self._view()

    def _view(self) -> str:
        tail = bytes(self._tail[max(0, len(self._tail) - self._tail_size) :])
        omitted = self.total_bytes - len(self._head) - len(tail)
        head_text = self._head.decode("utf-8", errors="ignore")
        tail_text = tail.decode("utf-8", errors="ignore")
        if omitted <= 0:
            return head_text + tail_text
        return head_text + truncation_marker(omitted) + tail_text

    def _release(self, *, final: bool) -> None:
        pending = self._pending
        if self._pattern is None:
            safe, out = len(pending), pending
        else:
            safe = len(pending) if final else len(pending) - self._hold
            if safe <= 0:
                return
            pieces, position = [], 0
            for match in self._pattern.finditer(pending):
                if match.start() >= safe:
                    break
                pieces += [pending[position : match.start()], MASK]
                position = match.end()
            safe = max(safe, position)
            pieces.append(pending[position:safe])
            out = "".join(pieces)
        self._pending = pending[safe:]
        if out:
            self._keep_bytes(_utf8(out))

    def _keep_bytes(self, data: bytes) -> None:
        self.total_bytes += len(data)
        room = self._head_size - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data and self._tail_size:
            self._tail += data
            if len(self._tail) > 2 * self._tail_size + 4096:
                del self._tail[: len(self._tail) - self._tail_size]


_MARKER = re.compile(r"\n…\[(\d+) bytes truncated\]…\n")


def live_slice(text: str, offset: int) -> tuple[str, int]:
    """Return the output after `offset` (bytes of the whole stream a task printed) and the offset it ends at.

    `text` is output as kept (head, maybe the truncation marker, tail): offsets count the bytes of
    the whole stream, so a follower keeps its place while the kept middle moves on. What is no
    longer kept (cut from the middle) comes back as one line saying how much was left out.
    """
    match = _MARKER.search(text)
    if match is None:
        data = _utf8(text)
        return data[max(0, offset) :].decode("utf-8", errors="ignore"), max(len(data), offset)
    head, tail = _utf8(text[: match.start()]), _utf8(text[match.end() :])
    total = len(head) + int(match.group(1)) + len(tail)
    if offset >= total:
        return "", offset
    tail_start = total - len(tail)
    if offset >= tail_start:
        return tail[offset - tail_start :].decode("utf-8", errors="ignore"), total
    shown = head[offset:].decode("utf-8", errors="ignore") if offset < len(head) else ""
    return shown + truncation_marker(tail_start - max(offset, len(head))) + tail.decode("utf-8", "ignore"), total


def live_ticker(collector: OutputCollector, live_output: Callable[[str], None]) -> Callable[[], None]:
    """Return a watcher's tick: hand the output so far to ``live_output`` when it grew (python and http tasks)."""
    seen = [0]

    def tick() -> None:
        if collector.total_bytes != seen[0]:
            seen[0] = collector.total_bytes
            live_output(collector.snapshot())

    return tick
