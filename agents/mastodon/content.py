"""A status's HTML ``content`` as the plain text a reader sees, and the links it holds.

Why the standard library's ``html.parser`` and not selectolax: Mastodon sanitizes every
status it serves, local or federated, down to a handful of tags (p, br, a, span, and a few
inline and list tags), so an HTML5 tree builder buys nothing here; the standard parser is
tolerant of broken markup, needs no compiled dependency, and streams through the text once.

What the text keeps: paragraphs (a blank line between them), line breaks, list items on lines
of their own; ordinary links as their ``href`` (Mastodon shows them shortened, with the
scheme and tail in hidden spans); mentions and hashtags as written (``@name``, ``#tag``), since
their ``href`` points at whichever instance rendered them; custom emoji as their shortcode.
The ``RE: <link>`` paragraph Mastodon adds to a quote for older clients is left out (the quote
is a reference of the post), as Mastodon's own web client does.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_BLOCKS = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_SKIPPED = frozenset({"script", "style", "template"})
_VOID = frozenset({"br", "img", "hr", "wbr", "input", "meta", "link"})
_SPACES = re.compile(r"[ \t\n\r\f\v]+")
_BREAKS = re.compile(r" *\n *")
_PARAGRAPHS = re.compile(r"\n{3,}")
_TAGS = re.compile(r"<[^>]*>")
_KEPT_LINKS = frozenset({"mention", "hashtag", "tag", "u-url"})  # shown as written


@dataclass(frozen=True, slots=True)
class Content:
    text: str
    links: list[str] = field(default_factory=list)  # hrefs of ordinary links, in order


def _classes(attrs: list[tuple[str, str | None]]) -> set[str]:
    found: set[str] = set()
    for name, value in attrs:
        if name in ("class", "rel") and value:
            found.update(value.split())
    return found


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._open: list[tuple[str, str]] = []  # (tag, "suppress" | "block" | "pre" | "inline")
        self._suppress = 0  # inside a skipped subtree or a link shown as its href
        self._pre = 0

    def _newlines(self, count: int) -> None:
        if not self.parts:
            return
        tail = "".join(self.parts[-count:])
        have = len(tail) - len(tail.rstrip("\n"))
        if have < count:
            self.parts.append("\n" * (count - have))

    def _push(self, tag: str, kind: str) -> None:
        self._open.append((tag, kind))
        if kind == "suppress":
            self._suppress += 1
        elif kind == "pre":
            self._pre += 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self.handle_startendtag(tag, attrs)
            return
        classes = _classes(attrs)
        if self._suppress or tag in _SKIPPED or "quote-inline" in classes:
            self._push(tag, "suppress")
        elif tag in _BLOCKS:
            self._newlines(1 if tag == "li" else 2)
            self._push(tag, "pre" if tag == "pre" else "block")
        elif tag == "a" and not classes & _KEPT_LINKS:
            href = next((v for k, v in attrs if k == "href" and v), None)
            if href:
                self.parts.append(href)
                self.links.append(href)
            self._push(tag, "suppress" if href else "inline")
        else:
            self._push(tag, "inline")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self._suppress:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if all(name != tag for name, _ in self._open):
            return  # a stray end tag
        while self._open:  # misnested markup: close everything opened inside, as browsers do
            name, kind = self._open.pop()
            if kind == "suppress":
                self._suppress -= 1
            elif kind == "pre":
                self._pre -= 1
            if kind in ("block", "pre"):
                self._newlines(1 if name == "li" else 2)
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        if not self._suppress:
            self.parts.append(data if self._pre else _SPACES.sub(" ", data))


def html_to_text(content: str) -> Content:
    """The text and links of a status's ``content``; never raises on malformed markup."""
    parser = _TextParser()
    try:
        parser.feed(content)
        parser.close()
    except (AssertionError, ValueError):  # markup the parser gives up on (``<![x[``)
        return Content(_tidy(html.unescape(_TAGS.sub(" ", content))))
    links = list(dict.fromkeys(parser.links))
    return Content(_tidy("".join(parser.parts)), links)


def _tidy(text: str) -> str:
    return _PARAGRAPHS.sub("\n\n", _BREAKS.sub("\n", text)).strip()
