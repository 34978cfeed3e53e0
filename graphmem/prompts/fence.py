"""Untrusted text in prompts: fenced blocks no content can close or open, one line per item.

Everything a prompt shows that came from outside (memories, messages, speaker names, entity
and relation names, paths, questions) goes through here:

- ``fence(tag, body)`` wraps a block in ``<tag>`` … ``</tag>``; inside it, anything that reads
  as one of the fence tags (opening or closing, any case, with whitespace, zero-width or
  combining characters inside, full-width or other look-alike brackets, slashes and letters)
  is written as ``&lt;/memory-data&gt;``, which no reader takes for a tag.
- ``inline(text)`` renders one item as exactly one line: every line separator (``\\n``,
  ``\\r``, ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028``, ``\\u2029``) becomes
  a visible ``⏎``, so an item can never start a line of the format around it (a forged
  ``[id] (valid …)`` memory line, a ``NEW:`` header, a ``role:`` message prefix).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

#: the fence tags graphmem's prompts use; a fenced body can mention none of them as a tag
TAGS = ("memory-data", "memory-input")
#: shown in place of a line break inside one item
NEWLINE = " ⏎ "

# What str.splitlines() splits on, with the horizontal space around it.
_BREAK = "\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029"
_BREAKS = re.compile(rf"[^\S{_BREAK}]*[{_BREAK}]+\s*")
_OTHER_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
# Look-alikes that compatibility decomposition (NFKD) leaves alone, as the ASCII they imitate
# (NFKD already folds full-width and small forms, mathematical letters and accents).
_LESS = "‹〈⟨❬❮˂ᐸ⧼"
_CONFUSABLE = str.maketrans(
    {
        **dict.fromkeys(_LESS, "<"),
        **dict.fromkeys("›〉⟩❭❯˃ᐳ⧽", ">"),
        **dict.fromkeys("⁄∕⧸╱", "/"),
        **dict.fromkeys("⧹╲", "\\"),
        **dict.fromkeys("аα", "a"),
        **dict.fromkeys("еε", "e"),
        **dict.fromkeys("оοσ", "o"),
        **dict.fromkeys("рρ", "p"),
        **dict.fromkeys("уγ", "y"),
        **dict.fromkeys("мμ", "m"),
        **dict.fromkeys("тτ", "t"),
        **dict.fromkeys("іι", "i"),
        "г": "r",
        "ν": "v",
        "ո": "n",
        "ԁ": "d",
        "ս": "u",
    }
)
# Every character that folds to "<" (the others decompose to it under NFKD): a text without
# one holds no tag and is returned as it is.
_MAYBE_TAG = re.compile(f"[<\u226e\ufe64\uff1c{_LESS}]")
_INVISIBLE = {"Cf", "Mn", "Me"}  # zero-width and bidi controls, combining marks


@lru_cache(maxsize=16)
def _tag_pattern(tags: tuple[str, ...]) -> re.Pattern[str]:
    """``<`` ``/``? tag ``>``? in folded text, the parts of a tag joined by any separators."""
    names = "|".join(r"[\W_]*".join(map(re.escape, re.split(r"[\W_]+", t))) for t in tags)
    return re.compile(rf"<\s*([/\\]?)\s*({names})(\s*>)?")


def _fold(text: str) -> tuple[str, Sequence[int]]:
    """``text`` lower-cased, look-alikes as ASCII, invisible characters left out; and for
    each folded character the index of the character of ``text`` it came from."""
    if text.isascii():
        return text.lower(), range(len(text))
    chars: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(text):
        if c.isascii():
            folded = c.lower()
        else:
            parts = unicodedata.normalize("NFKD", c.lower().translate(_CONFUSABLE))
            folded = "".join(p for p in parts if unicodedata.category(p) not in _INVISIBLE)
            folded = folded.lower()
        chars.append(folded)
        origin += [i] * len(folded)
    return "".join(chars), origin


def neutralise(text: str, tags: tuple[str, ...] = TAGS) -> str:
    """``text`` with everything that reads as one of ``tags`` (see the module doc) escaped."""
    if not _MAYBE_TAG.search(text):
        return text
    folded, origin = _fold(text)
    out: list[str] = []
    end = 0
    for m in _tag_pattern(tags).finditer(folded):
        start, stop = origin[m.start()], origin[m.end() - 1] + 1
        slash, name, close = m.group(1), re.sub(r"[\W_]+", "-", m.group(2)), m.group(3)
        out += [text[end:start], f"&lt;{slash}{name}{'&gt;' if close else ''}"]
        end = stop
    return "".join(out) + text[end:]


def one_line(text: str) -> str:
    """``text`` on one line: line breaks as ``⏎``, other control characters as spaces."""
    return _BREAKS.sub(NEWLINE, _OTHER_CONTROLS.sub(" ", text).strip())


def inline(text: str) -> str:
    """One untrusted item as it may appear anywhere in a prompt: no tag, one line."""
    return one_line(neutralise(text))


def fence(tag: str, body: str) -> str:
    """Wrap untrusted text in a marked block that nothing inside it can close or reopen."""
    return f"<{tag}>\n{neutralise(body, tuple(dict.fromkeys((tag, *TAGS))))}\n</{tag}>"
