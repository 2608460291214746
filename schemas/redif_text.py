"""ReDIF bytes -> text, streaming: the encoding of a file and its lines, each line capped.

The encoding: a BOM (UTF-8, UTF-16 LE/BE) first; else UTF-16 without a BOM when the NUL
bytes say so (ReDIF text is mostly ASCII, so UTF-16 has a NUL in every other byte); else
strict UTF-8 when the whole file is; else CP1252, with latin-1 for the five bytes CP1252
leaves undefined. Knowing whether a whole file is UTF-8 takes one pass over it
(:class:`EncodingSniffer`); its lines come in a second (:func:`text_lines`), so no file is
ever held whole, and a line longer than :data:`MAX_LINE` comes as a :class:`LongLine`
that says how long it was instead of its text.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["MAX_LINE", "Encoding", "EncodingSniffer", "LongLine", "decode", "text_lines"]

#: Characters one line may hold. Real ReDIF lines are a few kilobytes at most (a long
#: abstract on one line); a longer one is not read, and its template is quarantined.
MAX_LINE = 1 << 20
#: Bytes of the start of a file that decide between a BOM, UTF-16 without one, and the rest.
_HEAD = 400

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# latin-1 maps every byte to U+0000..U+00FF; CP1252 differs only in 0x80..0x9F, where it
# defines all but five bytes (those stay latin-1 C1 controls).
_CP1252_FROM_LATIN1 = {
    b: bytes([b]).decode("cp1252")
    for b in range(0x80, 0xA0)
    if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}


@dataclass(frozen=True)
class Encoding:
    """How a file's bytes become text."""

    codec: str  # utf-8, utf-16-le, utf-16-be, or cp1252 (latin-1 for its undefined bytes)
    errors: str = "strict"
    skip: int = 0  # bytes of a BOM before the text


class EncodingSniffer:
    """Fed a file's bytes chunk by chunk, says its encoding at the end (:meth:`encoding`)."""

    def __init__(self) -> None:
        self._head = b""
        self._utf8: codecs.IncrementalDecoder | None = codecs.getincrementaldecoder("utf-8")()

    def feed(self, chunk: bytes) -> None:
        if len(self._head) < _HEAD:
            self._head += chunk[: _HEAD - len(self._head)]
        if self._utf8 is not None:
            try:
                self._utf8.decode(chunk)
            except UnicodeDecodeError:
                self._utf8 = None  # not UTF-8: nothing more to learn from the rest

    def encoding(self) -> Encoding:
        for bom, codec in _BOMS:
            if self._head.startswith(bom):
                return Encoding(codec, "replace", len(bom))
        guessed = _bomless_utf16(self._head)
        if guessed:
            return Encoding(guessed, "replace")
        if self._utf8 is not None:
            try:
                self._utf8.decode(b"", final=True)
                return Encoding("utf-8")
            except UnicodeDecodeError:
                self._utf8 = None
        return Encoding("cp1252")


def _bomless_utf16(raw: bytes) -> str | None:
    head = raw[:_HEAD]
    head = head[: len(head) - len(head) % 2]
    if len(head) < 4:
        return None
    even_nuls = head[0::2].count(0)
    odd_nuls = head[1::2].count(0)
    half = len(head) // 2
    if even_nuls > 0.8 * half and odd_nuls == 0:
        return "utf-16-be"
    if odd_nuls > 0.8 * half and even_nuls == 0:
        return "utf-16-le"
    return None


@dataclass(frozen=True)
class LongLine:
    """A line longer than the cap, in place of its text: its first characters and its length."""

    head: str
    chars: int


def decode(raw: bytes) -> str:
    """Bytes of a whole ReDIF file -> text with ``\\n`` line ends and no BOM."""
    sniffer = EncodingSniffer()
    sniffer.feed(raw)
    return "".join(_texts([raw], sniffer.encoding()))


def text_lines(
    chunks: Iterable[bytes], encoding: Encoding, max_line: int = MAX_LINE
) -> Iterator[str | LongLine]:
    """The lines of a file read in chunks, without their line ends (``\\r\\n``, ``\\r`` or
    ``\\n``), as ``str.split`` gives them: a text ending in a line end ends with an empty
    line. A line longer than ``max_line`` characters is never held: a :class:`LongLine`
    comes instead."""
    carry = ""  # the line begun and not ended yet
    skipped = 0  # characters of an over-long line that were not kept
    head = ""
    for text in _texts(chunks, encoding):
        parts = text.split("\n")
        for index, part in enumerate(parts):
            ended = index < len(parts) - 1
            if skipped:
                skipped += len(part)
            elif len(carry) + len(part) > max_line:
                head = (carry + part[:200])[:200]
                skipped = len(carry) + len(part)
                carry = ""
            else:
                carry += part
            if ended:
                if skipped:
                    yield LongLine(head, skipped)
                    skipped = 0
                else:
                    yield carry
                carry = ""
    yield LongLine(head, skipped) if skipped else carry


def _texts(chunks: Iterable[bytes], encoding: Encoding) -> Iterator[str]:
    """Decoded pieces of text with every line end made ``\\n`` (a ``\\r`` at the end of a
    piece waits for the next, which may begin with its ``\\n``)."""
    codec = "latin-1" if encoding.codec == "cp1252" else encoding.codec
    decoder = codecs.getincrementaldecoder(codec)(encoding.errors)
    skip = encoding.skip
    held_cr = ""
    for chunk in chunks:
        if skip:
            chunk, skip = chunk[skip:], max(0, skip - len(chunk))
        text = held_cr + decoder.decode(chunk)
        held_cr = "\r" if text.endswith("\r") else ""
        yield _normalised(text[: len(text) - len(held_cr)], encoding)
    yield _normalised(held_cr + decoder.decode(b"", final=True), encoding)


def _normalised(text: str, encoding: Encoding) -> str:
    if encoding.codec == "cp1252":
        text = text.translate(_CP1252_FROM_LATIN1)
    return text.replace("\r\n", "\n").replace("\r", "\n")
