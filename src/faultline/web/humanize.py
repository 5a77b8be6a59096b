"""Times and numbers as people scan them: "3 minutes ago", "1.2k".

Relative times are what makes a list scannable ("is this still happening?"); the exact UTC time stays one hover
away in the `title` of the `<time>` element the templates wrap these in.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import zoneinfo

from faultline.ids import parse_ascii_int

_UNITS = (
    (dt.timedelta(days=365), "year"),
    (dt.timedelta(days=30), "month"),
    (dt.timedelta(days=7), "week"),
    (dt.timedelta(days=1), "day"),
    (dt.timedelta(hours=1), "hour"),
    (dt.timedelta(minutes=1), "minute"),
)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def relative(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    if value is None:
        return "never"
    now = _aware(now) if now is not None else dt.datetime.now(dt.UTC)
    delta = now - _aware(value)
    future = delta < dt.timedelta(0)
    delta = abs(delta)
    if delta < dt.timedelta(seconds=45):
        return "just now"
    size, name = next(((size, name) for size, name in _UNITS if delta >= size), (dt.timedelta(minutes=1), "minute"))
    count = max(int(delta / size), 1)  # 45–59 seconds round up to "1 minute"
    if name == "day" and count == 1 and not future:
        return "yesterday"
    phrase = f"{count} {name}{'s' if count != 1 else ''}"
    return f"in {phrase}" if future else f"{phrase} ago"


# The viewer's time zone while a page renders (set by `Templates.response`), so that every exact time on the page —
# including those in imported macros, which see no template context — is shown in it.
VIEWER_ZONE: contextvars.ContextVar[str | None] = contextvars.ContextVar("viewer_zone", default=None)


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def absolute(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    name = VIEWER_ZONE.get()
    if not name:
        return _aware(value).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return _aware(value).astimezone(_zone(name)).strftime("%Y-%m-%d %H:%M:%S %Z")


def iso(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return _aware(value).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def compact(value: int | float | None) -> str:
    """1234 → "1.2k", 12 345 678 → "12M": counts in a narrow column."""
    if value is None:
        return "0"
    number = float(value)
    sign = "-" if number < 0 else ""
    number = abs(number)
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if number >= threshold:
            scaled = number / threshold
            text = f"{scaled:.1f}" if scaled < 10 else f"{scaled:.0f}"
            return f"{sign}{text.removesuffix('.0')}{suffix}"
    return f"{sign}{int(number)}"


def grouped(value: int | None) -> str:
    """12345 → "12 345" (thin space), exact figures where they matter."""
    return f"{value or 0:,}".replace(",", "\u202f")


def user_agent(value: str | None) -> str:
    """Say "Chrome 156 on Linux" from a User-Agent header, for the session list (best effort, never raises)."""
    if not value:
        return "unknown browser"
    ua = value[:500]
    browser = "browser"
    for token, name in (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-httpx/", "httpx"),
        ("testclient", "test client"),
    ):
        if token in ua:
            browser = name
            if token.endswith("/"):
                version = ua.split(token, 1)[1].split(" ", 1)[0].split(".", 1)[0]
                if parse_ascii_int(version, max_digits=4) is not None:
                    browser += f" {version}"
            break
    system = next(
        (
            name
            for token, name in (
                ("Android", "Android"),
                ("iPhone", "iOS"),
                ("iPad", "iPadOS"),
                ("Mac OS X", "macOS"),
                ("Windows", "Windows"),
                ("Linux", "Linux"),
            )
            if token in ua
        ),
        "",
    )
    return f"{browser} on {system}" if system else browser
