"""Fetching minified scripts and their source maps from the web, without becoming an SSRF proxy or a hostage.

A frame's script URL comes straight from an ingested event, i.e. from anyone holding a (public) project token, so
every hop is vetted: the host is resolved once, *every* address it resolves to must be globally routable (no
loopback, private, link-local/cloud-metadata, CGNAT, multicast or reserved ranges, IPv4-mapped forms included)
unless internal addresses were explicitly allowed, and the connection then goes to that vetted address (the Host
header and TLS SNI keep the name), so a DNS answer cannot change between the check and the connect. Redirects are
followed by hand through the same check.

The host at the other end may be hostile too, so what it can cost is bounded before it is spent:

* **bytes**: the body is decoded here, piece by piece (`faultline.compression`, the decoders capture uses too), and
  refused once the *decoded* size passes `max_bytes` — httpx's own decoding would inflate a whole network chunk (a
  481-byte `br` bomb → gigabytes) first. At most two stacked encodings, zstd windows up to 8 MiB (RFC 9659 lets an
  HTTP decoder refuse larger ones); junk after the end of a stream is ignored, as browsers do;
* **time**: a fetch has a hard wall-clock `Deadline`. httpx's timeouts only bound each socket operation, so a host
  trickling one byte a second never trips them; here every socket operation (connect, TLS handshake, each read)
  gets at most the time left until the deadline (`_DeadlineBackend`), and DNS runs on a helper thread that is
  abandoned when the deadline passes (`getaddrinfo` cannot be interrupted);
* **repetition**: a host that timed out or could not be reached is remembered for `negative_ttl` seconds and not
  contacted again meanwhile, whichever project's event names it.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import socket
import threading
import time
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from faultline import compression
from faultline.ids import parse_ascii_int
from faultline.symbols.cache import TTLCache

MAX_REDIRECTS = 10
MAX_CODINGS = 2  # stacked Content-Encodings of a response
PIECE = 64 * 1024  # decoded bytes handed out at a time
USER_AGENT = "Faultline symbolicator (+https://github.com/faultline)"
# Lookups that may run at once; a stuck one holds its slot until the system resolver gives up on its own.
DNS_SLOTS = 8


class FetchError(Exception):
    """A script or source map could not be fetched. `transient` failures (timeouts, 5xx, network errors) are worth
    retrying later; the others are remembered as the symbol set's failure reason."""

    transient = False


class TransientFetchError(FetchError):
    transient = True


class FetchTimeout(TransientFetchError):
    """The fetch's own deadline passed (the host is slow or trickling)."""


class Inconclusive(TransientFetchError):
    """Our own limits stopped the fetch, so nothing was learned about the URL or its host: not remembered."""


class BudgetSpent(Inconclusive):
    """The batch's fetch budget ran out before this fetch could finish."""


class BlockedURL(FetchError):
    pass


class NoSourcemap(FetchError):
    """The script was fetched but names no source map: maybe it simply is not minified."""


@dataclass(frozen=True)
class FetchPolicy:
    allow_internal_ips: bool = False
    max_bytes: int = 20 * 1024 * 1024
    # Longest silence (connecting, or between two reads) before giving up; the deadline bounds the total.
    idle_timeout: float = 10.0
    deadline: float = 20.0
    negative_ttl: float = 300.0


@dataclass(frozen=True)
class Deadline:
    """When a fetch must be over (`time.monotonic()`). `budget` says this moment is where the batch's fetch budget
    ends, before the fetch's own deadline: running out of it then says nothing about the host."""

    at: float
    budget: bool = False

    @classmethod
    def within(cls, seconds: float, *, budget_left: float | None = None) -> Deadline:
        if budget_left is not None and budget_left < seconds:
            return cls(time.monotonic() + budget_left, budget=True)
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()


@dataclass
class Fetched:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _address_allowed(mapped)
        if address.teredo is not None:
            return False
    return address.is_global and not address.is_multicast and not address.is_reserved


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TransientFetchError(f"Network error while fetching: cannot resolve {host}: {exc}") from None
    return [str(info[4][0]) for info in infos]


_dns_slots = threading.BoundedSemaphore(DNS_SLOTS)


def resolve_within(resolver: Resolver, host: str, port: int, seconds: float) -> list[str]:
    """`resolver(host, port)` on a daemon thread, given up on after `seconds` (it finishes on its own later).
    `TimeoutError` when the lookup is too slow, `Inconclusive` when earlier lookups still hold every slot."""
    if seconds <= 0:
        raise TimeoutError(host)
    if not _dns_slots.acquire(timeout=seconds):
        raise Inconclusive(f"Not fetched: {DNS_SLOTS} earlier DNS lookups are still pending; {host} was not looked up")
    done = threading.Event()
    outcome: list[typing.Any] = []

    def run() -> None:
        try:
            outcome.append(resolver(host, port))
        except BaseException as exc:  # handed to the waiting thread
            outcome.append(exc)
        finally:
            _dns_slots.release()
            done.set()

    threading.Thread(target=run, name="faultline-dns", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(host)
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return typing.cast(list[str], outcome[0])


def vet(url: str, *, allow_internal_ips: bool, resolver: Resolver = system_resolver) -> tuple[str, str]:
    """Check one URL; returns (url to connect to, original host) or raises `BlockedURL` / `FetchError`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError(f"Invalid source url: {url}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"Invalid source url: {url}")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = resolver(host, port)
    if not addresses:
        raise TransientFetchError(f"Network error while fetching: {host} has no address")
    parsed = []
    for raw in addresses:
        try:
            parsed.append(ipaddress.ip_address(raw.split("%", 1)[0]))
        except ValueError:
            raise FetchError(f"Invalid source url: {url}") from None
    if not allow_internal_ips:
        for address in parsed:
            if not _address_allowed(address):
                raise BlockedURL(
                    f"Refusing to fetch {url}: {host} resolves to a private, loopback or link-local address "
                    f"({address}); set FAULTLINE_SOURCEMAP_ALLOW_INTERNAL_IPS=true to allow it"
                )
    target = parsed[0]
    literal = f"[{target}]" if target.version == 6 else str(target)
    netloc = f"{literal}:{port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return pinned, host


def host_key(url: str) -> str:
    """What the negative cache remembers a host by: name and port (not the address: CDNs share addresses)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return url
    return f"{(parts.hostname or '').lower()}:{port}"


# ---------------------------------------------------------------------------------------------------------------------
# A hard deadline under httpx


_current = threading.local()


@contextlib.contextmanager
def _deadline_scope(deadline: float) -> Iterator[None]:
    previous = getattr(_current, "deadline", None)
    _current.deadline = deadline
    try:
        yield
    finally:
        _current.deadline = previous


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    """The socket timeout for one operation: never past the current thread's deadline."""
    deadline = getattr(_current, "deadline", None)
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the fetch deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: typing.Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        # One timeout for the whole handshake: CPython's SSL handshake counts it as a deadline, not per read.
        inner = self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[typing.Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for fetching")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport on a connection pool whose sockets never outlive the deadline. httpx has no parameter for
    the network backend, so the pool it built is replaced by an identical one that has ours."""

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=20,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=_DeadlineBackend(),
        )


# ---------------------------------------------------------------------------------------------------------------------
# Fetching


class Fetcher:
    """GETs and HEADs with vetting, manual redirects, a decoded-byte cap, a hard deadline per call and a memory of
    hosts that failed. Thread-safe; one per process."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        client: httpx.Client | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.failed_hosts: TTLCache[tuple[float, str]] = TTLCache(policy.negative_ttl)
        self.client = client or httpx.Client(
            transport=_DeadlineTransport(),
            follow_redirects=False,
            timeout=httpx.Timeout(policy.idle_timeout),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    # Negative cache of hosts ---------------------------------------------------------------------------------------

    def _check_host(self, url: str) -> None:
        remembered = self.failed_hosts.get(host_key(url))
        if remembered is not None:
            when, reason = remembered
            ago = max(0, round(time.monotonic() - when))
            raise TransientFetchError(
                f"Not fetching {url}: its host failed {ago} s ago ({reason}); it is tried again "
                f"{self.policy.negative_ttl:g} s after that failure (FAULTLINE_SOURCEMAP_NEGATIVE_TTL)"
            )

    def _host_failed(self, url: str, error: FetchError) -> FetchError:
        if self.policy.negative_ttl > 0:
            self.failed_hosts.put(host_key(url), (time.monotonic(), str(error)[:300]))
        return error

    def _timed_out(self, url: str, deadline: Deadline) -> FetchError:
        if deadline.budget:
            return BudgetSpent(f"The fetch budget of this batch ran out while fetching: {url}")
        error = FetchTimeout(
            f"Request timed out while fetching: {url} (hard deadline of {self.policy.deadline:g} s, "
            "FAULTLINE_SOURCEMAP_DEADLINE)"
        )
        return self._host_failed(url, error)

    # Requests ------------------------------------------------------------------------------------------------------

    def _vet(self, url: str, deadline: Deadline) -> tuple[str, str]:
        def resolver(host: str, port: int) -> list[str]:
            try:
                return resolve_within(self.resolver, host, port, deadline.remaining())
            except TimeoutError:
                raise self._timed_out(url, deadline) from None
            except Inconclusive:
                raise
            except TransientFetchError as exc:
                raise self._host_failed(url, exc) from None

        return vet(url, allow_internal_ips=self.policy.allow_internal_ips, resolver=resolver)

    def _request(self, method: str, url: str, deadline: Deadline) -> Fetched:
        current = url
        with _deadline_scope(deadline.at):
            for _ in range(MAX_REDIRECTS + 1):
                self._check_host(current)
                pinned, host = self._vet(current, deadline)
                parts = urlsplit(current)
                headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "Accept-Encoding": "gzip, deflate, br, zstd"}
                extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
                if deadline.remaining() <= 0:
                    raise self._timed_out(current, deadline)
                try:
                    # Per socket operation; `_DeadlineBackend` cuts each one short at the deadline.
                    idle = min(self.policy.idle_timeout, max(deadline.remaining(), 0.001))
                    request = self.client.build_request(
                        method, pinned, headers=headers, extensions=extensions, timeout=httpx.Timeout(idle)
                    )
                    response = self.client.send(request, stream=True)
                except httpx.TimeoutException:
                    raise self._timed_out(current, deadline) from None
                except httpx.HTTPError as exc:
                    error = TransientFetchError(f"Network error while fetching: {current}: {exc}")
                    raise self._host_failed(current, error) from None
                try:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        if not location:
                            raise FetchError(f"Redirect error while fetching: {current} (redirect without Location)")
                        current = urljoin(current, location)
                        continue
                    if response.status_code >= 400:
                        transient = response.status_code >= 500 or response.status_code == 429
                        error_type = TransientFetchError if transient else FetchError
                        raise error_type(f"HTTP error {response.status_code} while fetching: {current}")
                    body = b"" if method == "HEAD" else self._read(response, current, deadline)
                    return Fetched(url=current, status=response.status_code, headers=response.headers, body=body)
                finally:
                    response.close()
        raise FetchError(f"Redirect error while fetching: {url} (more than {MAX_REDIRECTS} redirects)")

    def _read(self, response: httpx.Response, url: str, deadline: Deadline) -> bytes:
        limit = self.policy.max_bytes
        too_large = f"Response from {url} exceeded the {limit} byte limit"
        try:
            applied = compression.codings(response.headers.get("content-encoding"), max_codings=MAX_CODINGS)
        except compression.Unsupported as exc:
            raise FetchError(f"Cannot decode the response from {url}: {exc}") from None
        declared = parse_ascii_int(response.headers.get("content-length"), max_digits=20)
        if declared is not None and declared > limit and not applied:
            raise FetchError(too_large)
        chunks: list[bytes] = []
        pieces = compression.decode(
            applied,
            response.iter_raw(),
            limit=limit,
            piece=PIECE,
            max_window=compression.ZSTD_WINDOW,
            ignore_trailing=True,
        )
        try:
            for piece in pieces:
                chunks.append(piece)
                if deadline.remaining() <= 0:
                    raise self._timed_out(url, deadline)
        except compression.TooLarge:
            raise FetchError(too_large) from None
        except compression.DecodeError as exc:
            raise FetchError(f"Cannot decode the response from {url}: {exc}") from None
        except httpx.TimeoutException:
            raise self._timed_out(url, deadline) from None
        except httpx.HTTPError as exc:
            raise self._host_failed(url, TransientFetchError(f"Network error while fetching: {url}: {exc}")) from None
        return b"".join(chunks)

    def get(self, url: str, deadline: Deadline | None = None) -> Fetched:
        return self._request("GET", url, deadline or Deadline.within(self.policy.deadline))

    def exists(self, url: str, deadline: Deadline | None = None) -> bool:
        """HEAD `url`: False when the server says no; running out of time or reaching nobody is not a "no"."""
        try:
            return self._request("HEAD", url, deadline or Deadline.within(self.policy.deadline)).status < 300
        except TransientFetchError:
            raise
        except FetchError:
            return False


# ---------------------------------------------------------------------------------------------------------------------
# Source-map discovery


CHUNK_ID_PREFIXES = ("//# chunkId=", "//@ chunkId=")
MAP_PREFIXES = ("//# sourceMappingURL=", "//@ sourceMappingURL=")


@dataclass
class Discovered:
    script_url: str
    source: bytes
    chunk_id: str | None
    map_url: str | None = None
    map_data: bytes | None = None


def _tail_lines(body: bytes, count: int) -> list[str]:
    text = body[-256 * 1024 :].decode("utf-8", errors="replace")
    return text.splitlines()[-count:]


def chunk_id_from_source(body: bytes) -> str | None:
    for line in reversed(_tail_lines(body, 32)):
        stripped = line.strip()
        for prefix in CHUNK_ID_PREFIXES:
            if stripped.startswith(prefix):
                value = stripped[len(prefix) :].strip()
                if value and len(value) <= 200:
                    return value
    return None


def decode_data_url(url: str, max_bytes: int) -> bytes:
    header, sep, data = url[len("data:") :].partition(",")
    if not sep:
        raise FetchError("Invalid data url: no comma between header and data")
    params = [p.strip().lower() for p in header.split(";")]
    if not params[0].startswith("application/json"):
        raise FetchError("Invalid data url: the source map must be application/json")
    if len(data) > max_bytes * 2:
        raise FetchError(f"Inline source map exceeds the {max_bytes} byte limit")
    if "base64" in params[1:]:
        try:
            decoded = base64.b64decode(data, validate=False)
        except ValueError as exc:
            raise FetchError(f"Invalid data url: bad base64 ({exc})") from None
    else:
        decoded = unquote_to_bytes(data)
    if len(decoded) > max_bytes:
        raise FetchError(f"Inline source map exceeds the {max_bytes} byte limit")
    return decoded


def discover(fetcher: Fetcher, script_url: str, deadline: Deadline | None = None) -> Discovered:
    """GET the script and find its source map: `SourceMap`/`X-SourceMap` header, else the last
    `sourceMappingURL` comment (absolute, relative or an inline `data:` URL), else `<script>.map` if it exists."""
    response = fetcher.get(script_url, deadline)
    found = Discovered(script_url=script_url, source=response.body, chunk_id=chunk_id_from_source(response.body))
    header = response.headers.get("sourcemap") or response.headers.get("x-sourcemap")
    if header:
        found.map_url = urljoin(response.url, header.strip())
        return found
    for line in reversed(_tail_lines(response.body, 64)):
        stripped = line.strip()
        for prefix in MAP_PREFIXES:
            if stripped.startswith(prefix):
                reference = stripped[len(prefix) :].strip()
                if reference.startswith("data:"):
                    found.map_data = decode_data_url(reference, fetcher.policy.max_bytes)
                else:
                    found.map_url = urljoin(response.url, reference)
                return found
    candidate = urlsplit(response.url)
    guess = urlunsplit((candidate.scheme, candidate.netloc, candidate.path + ".map", "", ""))
    if fetcher.exists(guess, deadline):
        found.map_url = guess
        return found
    raise NoSourcemap(f"Could not find sourcemap for source url: {script_url}")


def fetch_sourcemap(fetcher: Fetcher, found: Discovered, deadline: Deadline | None = None) -> bytes:
    if found.map_data is not None:
        return found.map_data
    assert found.map_url is not None
    return fetcher.get(found.map_url, deadline).body
