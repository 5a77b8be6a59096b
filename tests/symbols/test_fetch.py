"""Fetching scripts and source maps from the web: SSRF guard, discovery rules, caps (spec §5.3)."""

from __future__ import annotations

import base64
import gzip
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from faultline.symbols import fetch
from faultline.symbols.fetch import BlockedURL, Fetcher, FetchPolicy, vet
from faultline.symbols.models import SymbolSet
from faultline.symbols.runtime import build_runtime
from tests.symbols.support import (
    CHUNK_ID,
    SAMPLES,
    Route,
    ScriptServer,
    resolve_frame,
    sample_blob,
    store_symbol_set,
)

BUNDLE = SAMPLES / "js_bundle"
MIN_JS = (BUNDLE / "app.min.js").read_bytes()
MIN_MAP = (BUNDLE / "app.min.js.map").read_bytes()
WITHOUT_COMMENT = MIN_JS.replace(b"//# sourceMappingURL=app.min.js.map", b"")


@pytest.fixture(scope="module")
def web() -> Iterator[ScriptServer]:
    server = ScriptServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def site(web: ScriptServer) -> ScriptServer:
    web.routes.clear()
    web.hits.clear()
    return web


def frame_for(url: str, **extra: Any) -> dict[str, Any]:
    return {"platform": "web:javascript", "filename": url, "function": "i", "lineno": 1, "colno": 59, **extra}


def make_runtime(app, **changes: Any):
    return build_runtime(app.state.settings.replace(**changes))


def resolve(db, runtime, project_id: int, frame: dict[str, Any]):
    [result] = resolve_frame(db, runtime.resolver, project_id, frame)
    return result


def assert_resolved_to_validate_cart(result) -> None:
    assert result.contents["resolved"] is True, result.contents["resolve_failure"]
    assert (result.contents["source"], result.contents["line"], result.contents["resolved_name"]) == (
        "../src/app.js",
        4,
        "validateCart",
    )


# ---------------------------------------------------------------------------------------------------------------------
# SSRF


def test_loopback_script_is_not_fetched_by_default(app, db, seed, site) -> None:
    site.routes["/static/app.min.js"] = Route(body=MIN_JS)
    site.routes["/static/app.min.js.map"] = Route(body=MIN_MAP)
    runtime = make_runtime(app)
    for host in ("127.0.0.1", "localhost"):
        port = site.url.rsplit(":", 1)[1]
        result = resolve(db, runtime, seed.project.id, frame_for(f"http://{host}:{port}/static/app.min.js"))
        assert "Refusing to fetch" in result.contents["resolve_failure"]
        assert "FAULTLINE_SOURCEMAP_ALLOW_INTERNAL_IPS" in result.contents["resolve_failure"]
    assert site.hits == []
    # Allowed explicitly, the same URL is fetched and resolves: the guard above is what stopped it.
    allowed = make_runtime(app, sourcemap_allow_internal_ips=True)
    assert_resolved_to_validate_cart(resolve(db, allowed, seed.project.id, frame_for(f"{site.url}/static/app.min.js")))
    assert ("GET", "/static/app.min.js") in site.hits


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/static/app.js",
        "http://169.254.169.254/latest/meta-data/app.js",
        "https://192.168.0.10/app.js",
        "http://172.16.5.4:8080/app.js",
        "http://100.64.0.1/app.js",
        "http://[::1]/app.js",
        "http://[fd00::1]/app.js",
        "http://[::ffff:127.0.0.1]/app.js",
        "http://[::ffff:169.254.169.254]/app.js",
        "http://2130706433/app.js",
        "http://0x7f.0.0.1/app.js",
        "http://127.1/app.js",
        "http://0.0.0.0/app.js",
    ],
)
def test_private_and_link_local_addresses_are_never_connected_to(app, db, seed, url, monkeypatch) -> None:
    connects: list[Any] = []

    def no_connect(*args: Any, **kwargs: Any) -> Any:
        connects.append(args)
        raise OSError("test: connecting is forbidden")

    monkeypatch.setattr(socket, "create_connection", no_connect)
    runtime = make_runtime(app)
    result = resolve(db, runtime, seed.project.id, frame_for(url))
    assert "Refusing to fetch" in result.contents["resolve_failure"], result.contents["resolve_failure"]
    # Not looked at, so guessed from the column like a script without a map: short line → kept readable.
    assert (result.contents["resolved"], result.contents["resolved_name"]) == (True, "i")
    assert resolve(db, runtime, seed.project.id, frame_for(url, colno=4000)).contents["resolved"] is False
    assert connects == []
    with db.read() as session:  # a blocked fetch is not remembered as a verdict on the URL
        rows = sa.select(sa.func.count()).select_from(SymbolSet).where(SymbolSet.project_id == seed.project.id)
        assert session.scalar(rows) == 0


def test_vet_pins_the_connection_to_the_checked_address() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return {"cdn.example.com": ["93.184.216.34"], "mixed.example.com": ["93.184.216.34", "10.0.0.5"]}[host]

    pinned, host = vet("https://cdn.example.com/a/app.js?v=1", allow_internal_ips=False, resolver=resolver)
    assert (pinned, host) == ("https://93.184.216.34:443/a/app.js?v=1", "cdn.example.com")
    with pytest.raises(BlockedURL):  # one private answer among public ones is enough to refuse
        vet("http://mixed.example.com/app.js", allow_internal_ips=False, resolver=resolver)
    for bad in ("ftp://cdn.example.com/x.js", "http:///x.js", "http://cdn.example.com:99999/x.js"):
        with pytest.raises(fetch.FetchError):
            vet(bad, allow_internal_ips=False, resolver=resolver)


def test_redirects_are_vetted_hop_by_hop() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    fetcher = Fetcher(
        FetchPolicy(),
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        resolver=lambda host, port: ["93.184.216.34"] if host == "cdn.example.com" else [host],
    )
    with pytest.raises(BlockedURL, match=r"169\.254\.169\.254"):
        fetcher.get("http://cdn.example.com/app.js")
    assert seen == ["http://93.184.216.34/app.js"]


def test_redirect_loops_stop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": "/again"})

    fetcher = Fetcher(
        FetchPolicy(), client=httpx.Client(transport=httpx.MockTransport(handler)), resolver=lambda h, p: ["8.8.8.8"]
    )
    with pytest.raises(fetch.FetchError, match="more than 10 redirects"):
        fetcher.get("http://cdn.example.com/app.js")


# ---------------------------------------------------------------------------------------------------------------------
# Discovery (on loopback, with internal addresses explicitly allowed)


@pytest.fixture
def allowed(app):
    return make_runtime(app, sourcemap_allow_internal_ips=True)


def test_source_mapping_url_comment_and_storage_as_symbol_set(app, db, seed, site, allowed) -> None:
    site.routes["/static/app.min.js"] = Route(body=MIN_JS)
    site.routes["/static/app.min.js.map"] = Route(body=MIN_MAP)
    url = f"{site.url}/static/app.min.js"
    assert_resolved_to_validate_cart(resolve(db, allowed, seed.project.id, frame_for(url)))
    with db.read() as session:
        row = session.scalar(sa.select(SymbolSet).where(SymbolSet.ref == url, SymbolSet.project_id == seed.project.id))
    assert row.storage_ptr and row.content_hash and row.failure_reason is None
    assert allowed.storage.get(row.storage_ptr) is not None
    hits = len(site.hits)
    fresh = make_runtime(app, sourcemap_allow_internal_ips=True)
    assert_resolved_to_validate_cart(resolve(db, fresh, seed.project.id, frame_for(url, colno=59)))
    assert len(site.hits) == hits  # stored once, never fetched again


def test_sourcemap_header_wins(db, seed, site, allowed) -> None:
    site.routes["/app.js"] = Route(body=WITHOUT_COMMENT, headers={"SourceMap": "/maps/app.map"})
    site.routes["/maps/app.map"] = Route(body=MIN_MAP)
    assert_resolved_to_validate_cart(resolve(db, allowed, seed.project.id, frame_for(f"{site.url}/app.js")))


def test_inline_data_url_map(db, seed, site, allowed) -> None:
    inline = base64.b64encode(MIN_MAP).decode()
    body = WITHOUT_COMMENT + f"\n//# sourceMappingURL=data:application/json;charset=utf-8;base64,{inline}\n".encode()
    site.routes["/inline.js"] = Route(body=body)
    assert_resolved_to_validate_cart(resolve(db, allowed, seed.project.id, frame_for(f"{site.url}/inline.js")))
    assert [hit for hit in site.hits if hit[1] != "/inline.js"] == []


def test_dot_map_guess_with_head(db, seed, site, allowed) -> None:
    site.routes["/plain.js"] = Route(body=WITHOUT_COMMENT, headers={"Content-Encoding": "identity"})
    site.routes["/plain.js.map"] = Route(body=MIN_MAP)
    assert_resolved_to_validate_cart(resolve(db, allowed, seed.project.id, frame_for(f"{site.url}/plain.js")))
    assert ("HEAD", "/plain.js.map") in site.hits


def test_gzip_encoded_responses(db, seed, site, allowed) -> None:
    site.routes["/gz.js"] = Route(
        body=gzip.compress(MIN_JS.replace(b"app.min.js.map", b"gz.js.map")), headers={"Content-Encoding": "gzip"}
    )
    site.routes["/gz.js.map"] = Route(body=gzip.compress(MIN_MAP), headers={"Content-Encoding": "gzip"})
    assert_resolved_to_validate_cart(resolve(db, allowed, seed.project.id, frame_for(f"{site.url}/gz.js")))


def test_script_without_any_source_map_is_guessed_unminified(db, seed, site, allowed) -> None:
    site.routes["/handwritten.js"] = Route(body=WITHOUT_COMMENT)
    url = f"{site.url}/handwritten.js"
    result = resolve(db, allowed, seed.project.id, frame_for(url))
    assert result.contents["resolve_failure"] == f"Could not find sourcemap for source url: {url}"
    # colno 59 <= 300: probably hand-written, keep the name; a long line means minified.
    assert result.contents["resolved"] is True and result.contents["resolved_name"] == "i"
    long_line = resolve(db, allowed, seed.project.id, frame_for(url, colno=5000))
    assert long_line.contents["resolved"] is False
    with db.read() as session:
        row = session.scalar(sa.select(SymbolSet).where(SymbolSet.ref == url, SymbolSet.project_id == seed.project.id))
    assert row.storage_ptr is None and row.failure_reason.startswith("Could not find sourcemap")


def test_chunk_id_comment_prefers_the_uploaded_set(db, seed, site, allowed) -> None:
    store_symbol_set(db, allowed.storage, seed.project.id, CHUNK_ID, sample_blob())
    site.routes["/static/app.injected.js"] = Route(body=(BUNDLE / "app.injected.js").read_bytes())
    result = resolve(db, allowed, seed.project.id, frame_for(f"{site.url}/static/app.injected.js"))
    assert_resolved_to_validate_cart(result)
    assert site.hits == [("GET", "/static/app.injected.js")]


def test_chunk_id_frame_falls_back_to_the_url_and_stores_under_the_chunk_id(db, seed, site, allowed) -> None:
    site.routes["/static/app.min.js"] = Route(body=MIN_JS)
    site.routes["/static/app.min.js.map"] = Route(body=MIN_MAP)
    result = resolve(db, allowed, seed.project.id, frame_for(f"{site.url}/static/app.min.js", chunk_id="fresh-chunk"))
    assert_resolved_to_validate_cart(result)
    with db.read() as session:
        assert session.scalar(
            sa.select(SymbolSet.storage_ptr).where(
                SymbolSet.ref == "fresh-chunk", SymbolSet.project_id == seed.project.id
            )
        )


@pytest.mark.parametrize(
    ("route", "message", "remembered"),
    [
        (Route(status=404), "HTTP error 404 while fetching", True),
        (Route(status=503), "HTTP error 503 while fetching", False),
        (Route(body=b"x" * 5000), "exceeded the 4096 byte limit", True),
        (Route(body=MIN_JS, delay=2.5), "timed out", False),
    ],
)
def test_fetch_failures(app, db, seed, site, route: Route, message: str, remembered: bool) -> None:
    runtime = make_runtime(app, sourcemap_allow_internal_ips=True, sourcemap_max_bytes=4096, sourcemap_deadline=1)
    site.routes["/broken.js"] = route
    url = f"{site.url}/broken.js"
    started = time.monotonic()
    result = resolve(db, runtime, seed.project.id, frame_for(url))
    assert time.monotonic() - started < 2.4
    assert message in result.contents["resolve_failure"]
    assert result.contents["resolved"] is False
    with db.read() as session:
        row = session.scalar(sa.select(SymbolSet).where(SymbolSet.ref == url, SymbolSet.project_id == seed.project.id))
    assert (row is not None) is remembered


def test_fetching_can_be_switched_off(app, db, seed, site) -> None:
    site.routes["/static/app.min.js"] = Route(body=MIN_JS)
    runtime = make_runtime(app, sourcemap_fetch=False, sourcemap_allow_internal_ips=True)
    result = resolve(db, runtime, seed.project.id, frame_for(f"{site.url}/static/app.min.js"))
    assert result.contents["resolve_failure"].startswith("No source map: fetching scripts is disabled")
    assert site.hits == []


def test_data_url_rules() -> None:
    payload = base64.b64encode(b'{"version":3}').decode()
    assert fetch.decode_data_url(f"data:application/json;base64,{payload}", 100) == b'{"version":3}'
    assert fetch.decode_data_url("data:application/json,%7B%7D", 100) == b"{}"
    with pytest.raises(fetch.FetchError, match="application/json"):
        fetch.decode_data_url(f"data:text/html;base64,{payload}", 100)
    with pytest.raises(fetch.FetchError, match="byte limit"):
        fetch.decode_data_url(f"data:application/json;base64,{payload}", 4)
    with pytest.raises(fetch.FetchError, match="no comma"):
        fetch.decode_data_url("data:application/json;base64", 100)
