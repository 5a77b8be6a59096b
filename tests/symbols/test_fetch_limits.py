"""What a hostile script host can cost the digest: decoded bytes, wall-clock time, repeated attempts.

Every host here is a real HTTP server on loopback (internal addresses allowed explicitly) that counts the requests
it gets. Limits are configured small so each test takes about a second; the behaviour they bound would otherwise
take the whole trickle (seconds) or the whole bomb (64 MiB per fetch).
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import brotli
import pytest
import sqlalchemy as sa
import zstandard

from faultline.symbols import fetch
from faultline.symbols.fetch import Fetcher, FetchPolicy
from faultline.symbols.models import SymbolSet
from faultline.symbols.runtime import build_runtime
from tests.support.live_server import wait_until
from tests.symbols.support import SAMPLES, Route, ScriptServer, peak_bytes, resolve_batch, resolve_frame, script_server

BUNDLE = SAMPLES / "js_bundle"
MIN_JS = (BUNDLE / "app.min.js").read_bytes()
MIN_MAP = (BUNDLE / "app.min.js.map").read_bytes()
MIB = 1024 * 1024
CAP = 1 * MIB
BOMB = 64 * MIB  # what each bomb inflates to


@pytest.fixture(scope="module")
def web() -> Iterator[ScriptServer]:
    with script_server() as server:
        yield server


@pytest.fixture
def site(web: ScriptServer) -> ScriptServer:
    web.routes.clear()
    web.hits.clear()
    return web


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    zeros = b"\0" * BOMB
    return {
        "br": brotli.compress(zeros, quality=5),  # ~100 bytes
        "zstd": zstandard.ZstdCompressor(level=3).compress(zeros),  # ~2 KB
        "gzip": gzip.compress(zeros, 9),  # ~64 KB
    }


def runtime_with(app, **changes: Any):
    return build_runtime(app.state.settings.replace(sourcemap_allow_internal_ips=True, **changes))


def frame_for(url: str) -> dict[str, Any]:
    return {"platform": "web:javascript", "filename": url, "function": "i", "lineno": 1, "colno": 59}


def failure(db, runtime, project_id: int, url: str) -> str:
    [result] = resolve_frame(db, runtime.resolver, project_id, frame_for(url))
    return result.contents["resolve_failure"]


def script_naming(map_name: str) -> bytes:
    return MIN_JS.replace(b"app.min.js.map", map_name.encode())


def hits_settle_at(site: ScriptServer, expected: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The server's request log once it stops changing: a request the client gave up on early may be logged by
    the server's thread a moment later (a loaded machine), so compare after it had the chance."""
    wait_until(lambda: sorted(site.hits) == sorted(expected), timeout_s=3, interval_s=0.05)
    time.sleep(0.1)
    return sorted(site.hits)


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


# ---------------------------------------------------------------------------------------------------------------------
# Bytes: decoded size is capped while decoding


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip"])
@pytest.mark.parametrize("target", ["script", "map"])
def test_encoded_bomb_stops_at_the_cap_with_bounded_memory(app, db, seed, site, bombs, coding, target) -> None:
    runtime = runtime_with(app, sourcemap_max_bytes=CAP)
    bomb = Route(body=bombs[coding], headers={"Content-Encoding": coding})
    if target == "script":
        site.routes["/bomb.js"] = bomb
    else:
        site.routes["/bomb.js"] = Route(body=script_naming("bomb.js.map"))
        site.routes["/bomb.js.map"] = bomb
    message, peak = peak_bytes(lambda: failure(db, runtime, seed.project.id, f"{site.url}/bomb.js"))
    assert f"exceeded the {CAP} byte limit" in message
    # httpx's own decoding inflated whole network chunks: ≥ 32 MiB for any of these bombs.
    assert peak < CAP + 4 * MIB, f"peak of {peak / MIB:.1f} MiB while fetching a {BOMB // MIB} MiB {coding} bomb"
    with db.read() as session:  # a bomb is a verdict on the URL: remembered
        row = session.scalar(sa.select(SymbolSet).where(SymbolSet.project_id == seed.project.id))
    assert row.storage_ptr is None and "byte limit" in row.failure_reason


def test_double_encoded_responses_still_decode(db, seed, site, app) -> None:
    runtime = runtime_with(app)
    site.routes["/double.js"] = Route(
        body=brotli.compress(gzip.compress(script_naming("double.js.map"))), headers={"Content-Encoding": "gzip, br"}
    )
    site.routes["/double.js.map"] = Route(body=zstandard.compress(MIN_MAP), headers={"Content-Encoding": "zstd"})
    [result] = resolve_frame(db, runtime.resolver, seed.project.id, frame_for(f"{site.url}/double.js"))
    assert result.contents["resolved"] is True, result.contents.get("resolve_failure")
    assert result.contents["resolved_name"] == "validateCart"


def test_fetched_script_and_map_larger_than_a_symbol_set_may_be_are_refused(app, db, seed, site) -> None:
    runtime = runtime_with(app, symbol_set_max_bytes=1024)  # the sample script + map are 1.6 KB
    site.routes["/app.min.js"] = Route(body=MIN_JS)
    site.routes["/app.min.js.map"] = Route(body=MIN_MAP)
    assert "FAULTLINE_SYMBOL_SET_MAX_BYTES" in failure(db, runtime, seed.project.id, f"{site.url}/app.min.js")
    assert runtime.resolver.parsed.total_bytes == 0


# ---------------------------------------------------------------------------------------------------------------------
# Time: a hard deadline per fetch, a budget per batch


@pytest.mark.parametrize("trickle_from", [0, -1], ids=["headers-and-body", "body"])
def test_trickling_host_is_cut_at_the_hard_deadline(app, db, seed, site, trickle_from: int) -> None:
    # ~450 bytes, one every 20 ms: 9 s of trickle, each byte well within the 5 s idle timeout.
    site.routes["/slow.js"] = Route(body=MIN_JS, trickle=0.02, trickle_from=trickle_from)
    runtime = runtime_with(app, sourcemap_deadline=0.5, sourcemap_timeout=5)
    message, elapsed = timed(lambda: failure(db, runtime, seed.project.id, f"{site.url}/slow.js"))
    assert "timed out" in message and "FAULTLINE_SOURCEMAP_DEADLINE" in message
    assert 0.5 <= elapsed < 2.5, elapsed  # the trickle alone lasts 9 s


def test_map_guess_that_trickles_is_a_timeout_not_a_missing_map(app, db, seed, site) -> None:
    site.routes["/plain.js"] = Route(body=MIN_JS.replace(b"//# sourceMappingURL=app.min.js.map", b""))
    site.routes["/plain.js.map"] = Route(body=MIN_MAP, trickle=0.05)  # its headers alone take 4 s
    runtime = runtime_with(app, sourcemap_deadline=1.5)
    message, elapsed = timed(lambda: failure(db, runtime, seed.project.id, f"{site.url}/plain.js"))
    assert "timed out" in message and elapsed < 3.5
    assert ("HEAD", "/plain.js.map") in hits_settle_at(site, [("GET", "/plain.js"), ("HEAD", "/plain.js.map")])
    with db.read() as session:  # "no source map" would have been stored for good
        assert session.scalar(sa.select(SymbolSet).where(SymbolSet.project_id == seed.project.id)) is None


def test_batch_stops_fetching_at_its_budget(app, db, seed, site) -> None:
    runtime = runtime_with(app, sourcemap_deadline=1.0, sourcemap_batch_budget=1.6, sourcemap_negative_ttl=0)
    for n in range(4):
        site.routes[f"/slow{n}.js"] = Route(body=MIN_JS, trickle=0.05)  # 20 s each
    frames = [frame_for(f"{site.url}/slow{n}.js") for n in range(4)]
    results, elapsed = timed(lambda: resolve_batch(db, runtime.resolver, seed.project.id, frames))
    messages = [result[0].contents["resolve_failure"] for result in results]
    assert "FAULTLINE_SOURCEMAP_DEADLINE" in messages[0]  # its own 1 s
    assert "fetch budget of this batch ran out" in messages[1]  # cut at 1.6 s, 0.6 s in
    assert all("already spent its 1.6 s fetch budget" in m for m in messages[2:])  # not even started
    assert 1.6 <= elapsed < 3.5, elapsed  # 80 s of trickle without the budget
    expected = [("GET", "/slow0.js"), ("GET", "/slow1.js")]
    assert hits_settle_at(site, expected) == expected
    # The budget says nothing about those URLs, so nothing was remembered: the next batch fetches them.
    site.routes["/slow2.js"] = Route(body=script_naming("slow2.js.map"))
    site.routes["/slow2.js.map"] = Route(body=MIN_MAP)
    [[result]] = resolve_batch(db, runtime.resolver, seed.project.id, [frames[2]])
    assert result.contents["resolved_name"] == "validateCart"


def test_dns_lookup_is_abandoned_at_the_deadline() -> None:
    release = threading.Event()

    def stuck_resolver(host: str, port: int) -> list[str]:
        release.wait(10)
        return ["93.184.216.34"]

    fetcher = Fetcher(FetchPolicy(deadline=0.3), resolver=stuck_resolver)
    try:
        started = time.monotonic()
        with pytest.raises(fetch.FetchTimeout):
            fetcher.get("http://stuck-dns.example/app.js")
        assert time.monotonic() - started < 2.3
        with pytest.raises(fetch.TransientFetchError, match=r"Not fetching .* its host failed"):
            fetcher.get("http://stuck-dns.example/other.js")  # remembered: not even looked up again
    finally:
        release.set()
        fetcher.close()


def test_dns_lookups_still_pending_do_not_blame_the_next_host() -> None:
    """Lookups abandoned at their deadline keep their slot until the system resolver gives up; when every slot is
    taken, the next fetch is not attempted — and its host is not held responsible for it."""
    release = threading.Event()

    def stuck_resolver(host: str, port: int) -> list[str]:
        release.wait(10)
        return ["93.184.216.34"]

    try:
        for n in range(fetch.DNS_SLOTS):
            with pytest.raises(TimeoutError):
                fetch.resolve_within(stuck_resolver, f"stuck{n}.example", 80, 0.01)
        fetcher = Fetcher(FetchPolicy(deadline=0.2), resolver=lambda host, port: ["10.0.0.1"])
        with pytest.raises(fetch.Inconclusive, match="DNS lookups are still pending"):
            fetcher.get("http://innocent.example/app.js")
        assert fetcher.failed_hosts.get("innocent.example:80") is None
    finally:
        release.set()
    patient = Fetcher(FetchPolicy(deadline=5), resolver=lambda host, port: ["10.0.0.1"])
    with pytest.raises(fetch.BlockedURL):  # looked up once a slot is back (and refused: 10.0.0.1 is private)
        patient.get("http://innocent.example/app.js")


def test_tls_handshake_that_trickles_is_cut_at_the_deadline() -> None:
    """The deadline reaches the TLS handshake too (the stream a handshake returns is bounded like the first)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            try:
                conn.sendall(b"\x16\x03\x03\x40\x00")  # a 16 KiB handshake record… that never quite arrives
                while not stop.wait(0.02):
                    conn.sendall(b"\0")
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    fetcher = Fetcher(FetchPolicy(allow_internal_ips=True, deadline=0.5, idle_timeout=5))
    try:
        started = time.monotonic()
        with pytest.raises(fetch.FetchTimeout):
            fetcher.get(f"https://127.0.0.1:{port}/app.js")
        assert time.monotonic() - started < 2.5
    finally:
        stop.set()
        fetcher.close()
        listener.close()
        thread.join(5)


# ---------------------------------------------------------------------------------------------------------------------
# Repetition: failing URLs and hosts are remembered for FAULTLINE_SOURCEMAP_NEGATIVE_TTL


def test_a_host_that_timed_out_is_not_contacted_again(app, db, seed, other_tenant, site) -> None:
    runtime = runtime_with(app, sourcemap_deadline=1.0, sourcemap_negative_ttl=60)
    site.routes["/slow.js"] = Route(body=MIN_JS, trickle=0.05)
    site.routes["/other.js"] = Route(body=MIN_JS)
    assert "timed out" in failure(db, runtime, seed.project.id, f"{site.url}/slow.js")
    assert hits_settle_at(site, [("GET", "/slow.js")]) == [("GET", "/slow.js")]
    # Later events — another batch, another URL on that host, another project — do not reach the host.
    assert "timed out" in failure(db, runtime, seed.project.id, f"{site.url}/slow.js")
    for project_id, path in ((seed.project.id, "/other.js"), (other_tenant.project.id, "/slow.js")):
        message = failure(db, runtime, project_id, f"{site.url}{path}")
        assert "its host failed" in message and "FAULTLINE_SOURCEMAP_NEGATIVE_TTL" in message
    assert hits_settle_at(site, [("GET", "/slow.js")]) == [("GET", "/slow.js")]


def test_a_failing_url_is_remembered_until_its_ttl_ends(app, db, seed, site) -> None:
    runtime = runtime_with(app, sourcemap_negative_ttl=1.5)
    site.routes["/flaky.js"] = Route(status=503)
    site.routes["/fine.js"] = Route(body=script_naming("fine.js.map"))
    site.routes["/fine.js.map"] = Route(body=MIN_MAP)
    url = f"{site.url}/flaky.js"
    assert "HTTP error 503" in failure(db, runtime, seed.project.id, url)
    assert "HTTP error 503" in failure(db, runtime, seed.project.id, url)
    assert site.hits == [("GET", "/flaky.js")]
    # A 5xx is about the URL, not the host: the host's other scripts are fetched.
    [result] = resolve_frame(db, runtime.resolver, seed.project.id, frame_for(f"{site.url}/fine.js"))
    assert result.contents["resolved_name"] == "validateCart"
    time.sleep(1.6)
    site.routes["/flaky.js"] = Route(body=script_naming("fine.js.map"))
    [result] = resolve_frame(db, runtime.resolver, seed.project.id, frame_for(url))
    assert result.contents["resolved_name"] == "validateCart"
    assert site.hits.count(("GET", "/flaky.js")) == 2


def test_a_zero_ttl_remembers_nothing(app, db, seed, site) -> None:
    # Deadlines here stay ≥ 1 s: a loaded machine must still get the fast requests out before them.
    runtime = runtime_with(app, sourcemap_negative_ttl=0, sourcemap_deadline=1.0)
    site.routes["/flaky.js"] = Route(status=503)
    site.routes["/slow.js"] = Route(body=MIN_JS, trickle=0.05)
    for _ in range(2):
        failure(db, runtime, seed.project.id, f"{site.url}/flaky.js")
        failure(db, runtime, seed.project.id, f"{site.url}/slow.js")
    expected = [("GET", "/flaky.js")] * 2 + [("GET", "/slow.js")] * 2
    assert hits_settle_at(site, expected) == expected
