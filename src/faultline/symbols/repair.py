"""Which stored frames a late symbol set can fix: the symbols side of re-symbolication.

Uploading (or re-uploading) a set queues a `symbol_repair` job (`repairjobs.py`); the job itself runs the digest's
stages again over the stored events (`faultline.pipeline.reprocess`). What only the symbols domain knows is which
resolved frame came from a raw frame needing the set's ref (chunk id, ProGuard map id, or the script URL), and how
to pre-filter events whose JSON mentions the ref.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faultline.platforms.javascript import clean_script_url
from faultline.symbols.resolver import truncate_ref


def references(frame: Mapping[str, Any], ref: str) -> bool:
    """Whether a resolved frame was produced from a raw frame that needs the symbol set `ref`."""
    junk = frame.get("junk_drawer")
    raw = junk.get("raw_frame") if isinstance(junk, Mapping) else None
    if not isinstance(raw, Mapping):
        return False
    for key in ("chunk_id", "chunkId", "map_id"):
        value = raw.get(key)
        if isinstance(value, str) and truncate_ref(value) == ref:
            return True
    filename = raw.get("filename")
    url = clean_script_url(filename if isinstance(filename, str) else None)
    return url is not None and truncate_ref(url) == ref


def like_pattern(ref: str) -> str | None:
    """LIKE pattern finding `ref` inside the JSON text of an event, or None if JSON would escape it."""
    if any(c in ref for c in '"\\') or any(ord(c) < 0x20 for c in ref):
        return None
    return "%" + ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
