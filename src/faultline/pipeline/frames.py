"""Raw frames → frame ids and resolved frames, per platform (spec §4.3, §4.5, §5.3).

The raw id is the SHA-512 of the platform's identifying fields, fed in exactly the order and encoding PostHog's
cymbal uses (numbers as decimal text for JavaScript and Hermes, big-endian integers elsewhere), so the same raw
frame gets the same id here as there. Languages that need no symbol data resolve directly; JavaScript, Node,
Hermes and Java frames are first offered to the `SymbolResolver` seam and otherwise get the "symbols unavailable"
Frame the symbols domain builds for the same failure (`faultline.symbols.frames`, pure functions): JS guesses
"minified or not" from the failure, as cymbal does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faultline.pipeline.parse import as_text
from faultline.symbols import frames as sf

CONTEXT_LINE_CAP = 300
_SNIP = "...✂️"
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


@dataclass
class ResolvedFrame:
    """One output frame: `contents` is the spec §4.5 Frame (null keys omitted), `context` goes on the DB row."""

    raw_hash: str
    part: int
    contents: dict[str, Any]
    context: dict[str, Any] | None = None
    symbol_set_id: Any = None

    @property
    def raw_id(self) -> str:
        return f"{self.raw_hash}/{self.part}"

    @property
    def resolved(self) -> bool:
        return bool(self.contents.get("resolved"))


# -- tolerant field access (frames are untrusted input) ---------------------------------------------------------


def _s(frame: Mapping[str, Any], key: str) -> str | None:
    return as_text(frame.get(key))


def _i(frame: Mapping[str, Any], key: str) -> int | None:
    value = frame.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= _U32 else None
    if isinstance(value, float) and value.is_integer() and 0 <= value <= _U32:
        return int(value)
    return None


def _lines(frame: Mapping[str, Any], key: str) -> list[str]:
    value = frame.get(key)
    if not isinstance(value, list):
        return []
    return [line if isinstance(line, str) else "" for line in value]


def _in_app(frame: Mapping[str, Any]) -> bool:
    value = frame.get("in_app")
    return value if isinstance(value, bool) else True


def _synthetic(frame: Mapping[str, Any]) -> bool:
    return frame.get("synthetic") is True


def _be32(value: int | None) -> bytes:
    return ((value or 0) & _U32).to_bytes(4, "big")


# -- raw ids -----------------------------------------------------------------------------------------------------


def _sha(parts: Sequence[bytes | str | None]) -> str:
    digest = hashlib.sha512()
    for part in parts:
        if part is None:
            continue
        digest.update(part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part)
    return digest.hexdigest()


def _js_location(frame: Mapping[str, Any]) -> tuple[int, int] | None:
    line, col = _i(frame, "lineno"), _i(frame, "colno")
    return (line, col) if line is not None and col is not None else None


def raw_id_js(frame: Mapping[str, Any]) -> str:
    loc = _js_location(frame)
    return _sha(
        [
            _s(frame, "function") or "",
            str(loc[0]) if loc else None,
            str(loc[1]) if loc else None,
            _s(frame, "filename") or "",
        ]
    )


def raw_id_node_python(frame: Mapping[str, Any], *, with_module: bool = True) -> str:
    parts: list[bytes | str | None] = [
        _s(frame, "context_line"),
        _s(frame, "filename") or "",
        _s(frame, "function") or "",
        _be32(_i(frame, "lineno")),
        _s(frame, "module") if with_module else None,
    ]
    parts += _lines(frame, "pre_context")
    parts += _lines(frame, "post_context")
    return _sha(parts)


def raw_id_go(frame: Mapping[str, Any]) -> str:
    return _sha([_s(frame, "filename") or "", _s(frame, "function") or "", _be32(_i(frame, "lineno"))])


def raw_id_java(frame: Mapping[str, Any]) -> str:
    line = _i(frame, "lineno") or 0
    return _sha(
        [
            _s(frame, "filename"),
            _s(frame, "function") or "",
            (line & _U64).to_bytes(8, "big"),
            _s(frame, "module") or "",
        ]
    )


def raw_id_dart(frame: Mapping[str, Any]) -> str:
    return _sha(
        [
            _s(frame, "filename"),
            _s(frame, "package"),
            _s(frame, "function") or "",
            _be32(_i(frame, "lineno")),
            _be32(_i(frame, "colno")),
        ]
    )


def raw_id_hermes(frame: Mapping[str, Any]) -> str:
    col = _i(frame, "colno")
    return _sha(
        [
            _s(frame, "function") or "",
            _s(frame, "filename") or "",
            str(col if col is not None else 0),
            _s(frame, "chunkId") or _s(frame, "chunk_id"),
        ]
    )


def raw_id_custom(frame: Mapping[str, Any], lang: str | None = None) -> str:
    resolved = frame.get("resolved") is True
    parts: list[bytes | str | None] = [
        _s(frame, "context_line"),
        _s(frame, "filename"),
        _s(frame, "function") or "",
        _be32(_i(frame, "lineno")),
        _be32(_i(frame, "colno")),
        lang if lang is not None else (_s(frame, "lang") or ""),
        "true" if resolved else "false",
        _s(frame, "module"),
    ]
    parts += _lines(frame, "pre_context")
    parts += _lines(frame, "post_context")
    return _sha(parts)


# -- context lines -----------------------------------------------------------------------------------------------


def _cap(line: str) -> str:
    return line if len(line) <= CONTEXT_LINE_CAP else line[:CONTEXT_LINE_CAP] + _SNIP


def context_from_frame(frame: Mapping[str, Any]) -> dict[str, Any] | None:
    """`{"before": [...], "line": {...}, "after": [...]}` from SDK-sent source lines.

    `pre_context` is in file order (its last entry is the line just above), so it is numbered upwards from the
    end; cymbal numbers it from the start, which puts the numbers in the wrong place in the UI.
    """
    line_text = _s(frame, "context_line")
    lineno = _i(frame, "lineno")
    if line_text is None or lineno is None:
        return None
    pre, post = _lines(frame, "pre_context"), _lines(frame, "post_context")
    before = [{"number": lineno - len(pre) + i, "line": _cap(text)} for i, text in enumerate(pre)]
    after = [{"number": lineno + 1 + i, "line": _cap(text)} for i, text in enumerate(post)]
    return {
        "before": [b for b in before if b["number"] >= 1],
        "line": {"number": lineno, "line": _cap(line_text)},
        "after": after,
    }


def _frame(**fields: Any) -> dict[str, Any]:
    """A Frame object with null optional keys omitted (spec §4.5)."""
    return {k: v for k, v in fields.items() if v is not None}


# -- built-in resolution per platform ------------------------------------------------------------------------------


def _direct(
    frame: Mapping[str, Any],
    raw_hash: str,
    lang: str,
    *,
    source: str | None,
    column: int | None = None,
    module: str | None = None,
    resolved: bool = True,
    context: dict[str, Any] | None = None,
    code_variables: Any = None,
) -> list[ResolvedFrame]:
    """Languages whose frames arrive readable: the SDK's function name is the resolved name."""
    function = _s(frame, "function") or ""
    contents = _frame(
        mangled_name=function,
        line=_i(frame, "lineno"),
        column=column,
        source=source,
        module=module,
        in_app=_in_app(frame),
        resolved_name=function,
        lang=lang,
        resolved=resolved,
        synthetic=_synthetic(frame),
        suspicious=False,
        code_variables=code_variables,
    )
    return [ResolvedFrame(raw_hash, 0, contents, context)]


def resolve_python(frame: Mapping[str, Any], raw_hash: str) -> list[ResolvedFrame]:
    variables = frame.get("code_variables")
    return _direct(
        frame,
        raw_hash,
        "python",
        source=_s(frame, "filename"),
        module=_s(frame, "module"),
        context=context_from_frame(frame),
        code_variables=variables if isinstance(variables, dict) else None,
    )


def resolve_ruby(frame: Mapping[str, Any], raw_hash: str) -> list[ResolvedFrame]:
    return _direct(frame, raw_hash, "ruby", source=_s(frame, "filename"), context=context_from_frame(frame))


def resolve_go(frame: Mapping[str, Any], raw_hash: str) -> list[ResolvedFrame]:
    return _direct(frame, raw_hash, "go", source=_s(frame, "filename"))


def resolve_dart(frame: Mapping[str, Any], raw_hash: str) -> list[ResolvedFrame]:
    source = _s(frame, "abs_path") or _s(frame, "filename")
    return _direct(frame, raw_hash, "dart", source=source, column=_i(frame, "colno"))


def resolve_custom(frame: Mapping[str, Any], raw_hash: str, lang: str | None = None) -> list[ResolvedFrame]:
    return _direct(
        frame,
        raw_hash,
        lang or _s(frame, "lang") or "unknown",
        source=_s(frame, "filename"),
        column=_i(frame, "colno"),
        module=_s(frame, "module"),
        resolved=frame.get("resolved") is True,
        context=context_from_frame(frame),
    )


def resolve_generic(frame: Mapping[str, Any], raw_hash: str) -> list[ResolvedFrame]:
    """Frames of platforms this server does not know (or with no platform at all): shown as sent, treated as
    resolved so the fingerprint uses their function names rather than line numbers."""
    return _direct(
        frame,
        raw_hash,
        _s(frame, "platform") or "unknown",
        source=_s(frame, "filename"),
        column=_i(frame, "colno"),
        module=_s(frame, "module"),
        context=context_from_frame(frame),
    )


# Frames of platforms that need symbols, when none are available (no symbol set, or the resolver did not answer):
# exactly the Frame the symbols resolver builds for the same failure, raw frame included, so a later upload's
# repair job finds these frames like any other unresolved one.


def _unresolved(
    raw_hash: str, contents: Mapping[str, Any], context: dict[str, Any] | None = None
) -> list[ResolvedFrame]:
    return [ResolvedFrame(raw_hash, 0, _frame(**contents), context)]


def js_unavailable(frame: Mapping[str, Any], raw_hash: str) -> list[ResolvedFrame]:
    if sf.js_location(frame) is None:  # no location: probably not minified (native code, eval, …)
        return _unresolved(raw_hash, sf.js_unminified(frame))
    chunk_id = sf.chunk_id_of(frame)
    filename = sf.as_str(frame.get("filename"))
    if chunk_id:
        failure = sf.no_upload_message(chunk_id)
    elif filename and sf.clean_script_url(filename):
        failure = sf.NO_SOURCEMAP_PREFIX + filename
    else:
        failure = sf.NO_URL_OR_CHUNK_ID
    return _unresolved(raw_hash, sf.js_failed(frame, failure))


def node_unavailable(frame: Mapping[str, Any], raw_hash: str) -> list[ResolvedFrame]:
    chunk_id = sf.chunk_id_of(frame)
    if not chunk_id or sf.js_location(frame) is None:
        contents, context = sf.node_direct(frame)
    else:
        contents, context = sf.node_failed(frame, sf.no_upload_message(chunk_id))
    return _unresolved(raw_hash, contents, context)


def java_unavailable(frame: Mapping[str, Any], raw_hash: str) -> list[ResolvedFrame]:
    map_id = sf.as_str(frame.get("map_id"))
    failure = sf.no_upload_message(map_id, proguard=True) if map_id else sf.NO_MAP_ID
    return _unresolved(raw_hash, sf.java_failed(frame, failure))


def hermes_unavailable(frame: Mapping[str, Any], raw_hash: str) -> list[ResolvedFrame]:
    chunk_id = sf.chunk_id_of(frame)
    return _unresolved(
        raw_hash, sf.hermes_failed(frame, sf.no_upload_message(chunk_id) if chunk_id else sf.NO_CHUNK_ID)
    )


@dataclass(frozen=True)
class Platform:
    raw_id: Callable[[Mapping[str, Any]], str]
    resolve: Callable[[Mapping[str, Any], str], list[ResolvedFrame]]
    # Whether the SymbolResolver seam is asked first (only for frames that carry what a symbol set needs).
    wants_symbols: Callable[[Mapping[str, Any]], bool] = lambda frame: False


def _js_wants(frame: Mapping[str, Any]) -> bool:
    return _js_location(frame) is not None


def _node_wants(frame: Mapping[str, Any]) -> bool:
    return _js_location(frame) is not None and bool(sf.chunk_id_of(frame))


PLATFORMS: dict[str, Platform] = {
    "web:javascript": Platform(raw_id_js, js_unavailable, _js_wants),
    "javascript": Platform(raw_id_js, js_unavailable, _js_wants),
    "node:javascript": Platform(raw_id_node_python, node_unavailable, _node_wants),
    "python": Platform(raw_id_node_python, resolve_python),
    "ruby": Platform(lambda f: raw_id_node_python(f, with_module=False), resolve_ruby),
    "go": Platform(raw_id_go, resolve_go),
    "java": Platform(raw_id_java, java_unavailable, lambda f: bool(_s(f, "map_id"))),
    "dart": Platform(raw_id_dart, resolve_dart),
    "hermes": Platform(raw_id_hermes, hermes_unavailable, lambda f: bool(sf.chunk_id_of(f))),
    "custom": Platform(raw_id_custom, resolve_custom),
}
_GENERIC = Platform(lambda f: raw_id_custom(f, lang=_s(f, "platform") or "unknown"), resolve_generic)


def platform_of(frame: Mapping[str, Any]) -> Platform:
    name = frame.get("platform")
    return PLATFORMS.get(name, _GENERIC) if isinstance(name, str) else _GENERIC


def raw_id(frame: Mapping[str, Any]) -> str:
    return platform_of(frame).raw_id(frame)
