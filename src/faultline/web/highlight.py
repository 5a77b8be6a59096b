"""Syntax highlighting of a frame's context lines, on the server (no CDN, no client-side JavaScript).

Pygments (BSD, already installed with typer → rich) tokenises; we keep only six token classes (keyword, string,
comment, number, name of a function or class, builtin) so the stylesheet stays small and readable in both colour
schemes. A frame's lines are lexed as one block, so a string or comment spanning lines is coloured right, then split
back into the page's lines. Only the first `MAX_FRAMES` in-app frames with source of an event are highlighted (a
lexer run costs ~1 ms): a deep trace costs at most that many, and folded library frames stay plain.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import Comment, Keyword, Name, Number, String, _TokenType
from pygments.util import ClassNotFound

MAX_FRAMES = 6
Segment = tuple[str, str]  # (css class or "", text)

_LANGS = {
    "python": "python",
    "javascript": "javascript",
    "node": "javascript",
    "ruby": "ruby",
    "go": "go",
    "java": "java",
}
# By file extension first (a TypeScript source mapped from a JS bundle is TypeScript); explicit, because Pygments'
# own filename lookup imports every lexer module the first time (over a second).
_EXTENSIONS = {
    "py": "python",
    "js": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "jsx": "jsx",
    "ts": "typescript",
    "tsx": "tsx",
    "rb": "ruby",
    "go": "go",
    "java": "java",
    "kt": "kotlin",
    "dart": "dart",
    "php": "php",
    "rs": "rust",
    "swift": "swift",
    "cs": "csharp",
}
_CLASSES: tuple[tuple[_TokenType, str], ...] = (
    (Comment, "tk-c"),
    (String, "tk-s"),
    (Number, "tk-n"),
    (Keyword, "tk-k"),
    (Name.Builtin, "tk-b"),
    (Name.Function, "tk-f"),
    (Name.Class, "tk-f"),
    (Name.Decorator, "tk-f"),
)


@lru_cache(maxsize=64)
def _lexer_for(lang: str, extension: str) -> Lexer | None:
    name = _EXTENSIONS.get(extension) or _LANGS.get(lang)
    if name is None:
        return None
    try:
        return get_lexer_by_name(name, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def lexer(lang: str | None, source: str | None) -> Lexer | None:
    path = (source or "").split("?", 1)[0].split("#", 1)[0]
    tail = path.rsplit("/", 1)[-1]
    extension = tail.rsplit(".", 1)[-1].lower()[:10] if "." in tail else ""
    return _lexer_for((lang or "").lower(), extension)


def _css(token: _TokenType) -> str:
    for kind, css in _CLASSES:
        if token in kind:
            return css
    return ""


def highlight(lines: Sequence[str], lang: str | None, source: str | None) -> list[list[Segment]] | None:
    """Segments per line, or None when the language is unknown (the lines are then shown plain)."""
    found = lexer(lang, source)
    if found is None or not lines:
        return None
    out: list[list[Segment]] = [[]]
    for token, text in found.get_tokens("\n".join(lines)):
        css = _css(token)
        parts = text.split("\n")
        for index, part in enumerate(parts):
            if index:
                out.append([])
            if part:
                current = out[-1]
                if current and current[-1][0] == css:
                    current[-1] = (css, current[-1][1] + part)
                else:
                    current.append((css, part))
    if len(out) != len(lines):  # a lexer that rewrote line breaks: do not risk misaligned numbers
        return None
    return out
