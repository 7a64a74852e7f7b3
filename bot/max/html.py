"""Telegram HTML → MAX HTML, in pieces MAX accepts (at most 4000 characters each).

The handlers write Telegram's HTML. MAX understands i em b strong del s ins u a pre code mark
blockquote h1; any other tag (tg-spoiler, span, tg-emoji…) is dropped and its text kept, so a
person never sees raw markup. A text over the limit is cut at a paragraph, a line or a space,
and tags open at a cut are closed there and opened again in the next piece, so every piece is
well-formed on its own.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from html.parser import HTMLParser

MAX_TEXT = 4000
ALLOWED_TAGS = frozenset(
    {"i", "em", "b", "strong", "del", "s", "ins", "u", "a", "pre", "code", "mark", "blockquote"}
    | {"h1"}
)


@dataclass
class _Token:
    kind: str  # "text", "open", "close"
    value: str  # the escaped text, or the tag name
    attrs: str = ""  # an opening tag's attributes, rendered


class _Tokenizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[_Token] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            return
        rendered = ""
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                rendered = f' href="{html.escape(href, quote=True)}"'
        self.tokens.append(_Token("open", tag, rendered))

    def handle_endtag(self, tag: str) -> None:
        if tag in ALLOWED_TAGS:
            self.tokens.append(_Token("close", tag))

    def handle_data(self, data: str) -> None:
        self.tokens.append(_Token("text", html.escape(data, quote=False)))


def to_max_html(text: str) -> str:
    """The same text with only the tags MAX knows."""
    return "".join(_render(_tokens(text)))


def visible(piece: str) -> str:
    """What a person reads of a piece of MAX HTML: the text without tags or entities."""
    return html.unescape("".join(t.value for t in _tokens(piece) if t.kind == "text"))


def plain_to_html(text: str) -> str:
    return html.escape(text, quote=False)


def split_html(text: str, limit: int = MAX_TEXT) -> list[str]:
    """MAX HTML in pieces of at most `limit` characters, each one balanced."""
    tokens = _tokens(text)
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    stack: list[_Token] = []

    def closing() -> str:
        return "".join(f"</{t.value}>" for t in reversed(stack))

    def reopening() -> str:
        return "".join(f"<{t.value}{t.attrs}>" for t in stack)

    def flush() -> None:
        nonlocal current, size
        pieces.append("".join(current) + closing())
        current = [reopening()]
        size = len(current[0])

    for token in tokens:
        if token.kind == "open":
            rendered = f"<{token.value}{token.attrs}>"
            if size + len(rendered) + len(closing()) + len(token.value) + 3 > limit:
                flush()
            current.append(rendered)
            size += len(rendered)
            stack.append(token)
        elif token.kind == "close":
            if any(t.value == token.value for t in stack):
                while stack:
                    opened = stack.pop()
                    current.append(f"</{opened.value}>")
                    size += len(opened.value) + 3
                    if opened.value == token.value:
                        break
        else:
            rest = token.value
            while rest:
                room = limit - size - len(closing())
                if len(rest) <= room:
                    current.append(rest)
                    size += len(rest)
                    break
                cut = _cut_at(rest, max(room, 1))
                current.append(rest[:cut])
                size += cut
                rest = rest[cut:].lstrip(" ")
                flush()
    last = "".join(current) + closing()
    if _visible(last) or not pieces:
        pieces.append(last)
    return [piece for piece in pieces if _visible(piece)] or [pieces[0]]


def _tokens(text: str) -> list[_Token]:
    parser = _Tokenizer()
    parser.feed(text)
    parser.close()
    return parser.tokens


def _render(tokens: list[_Token]) -> list[str]:
    out: list[str] = []
    opened: list[str] = []
    for token in tokens:
        if token.kind == "open":
            out.append(f"<{token.value}{token.attrs}>")
            opened.append(token.value)
        elif token.kind == "close":
            if token.value in opened:
                while opened:
                    tag = opened.pop()
                    out.append(f"</{tag}>")
                    if tag == token.value:
                        break
        else:
            out.append(token.value)
    out.extend(f"</{tag}>" for tag in reversed(opened))
    return out


def _cut_at(text: str, room: int) -> int:
    """Where to cut `text` to fit `room`: a paragraph, a line, a space; never inside `&…;`."""
    if room >= len(text):
        return len(text)
    window = text[:room]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at > room // 2:
            return at + len(separator)
    amp = window.rfind("&")
    if amp != -1 and ";" not in window[amp:]:
        return max(amp, 1)
    return room


def _visible(piece: str) -> bool:
    return bool(visible(piece))
