"""Fetching minified scripts and their source maps from the web, without becoming an SSRF proxy.

A frame's script URL comes straight from an ingested event, i.e. from anyone holding a (public) project token, so
every hop is vetted: the host is resolved once, *every* address it resolves to must be globally routable (no
loopback, private, link-local/cloud-metadata, CGNAT, multicast or reserved ranges, IPv4-mapped forms included)
unless internal addresses were explicitly allowed, and the connection then goes to that vetted address (the Host
header and TLS SNI keep the name), so a DNS answer cannot change between the check and the connect. Redirects are
followed by hand through the same check; bodies are size-capped after decompression and the whole fetch shares one
deadline.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urljoin, urlsplit, urlunsplit

import httpx

MAX_REDIRECTS = 10
CONNECT_TIMEOUT = 5.0
USER_AGENT = "Faultline symbolicator (+https://github.com/faultline)"


class FetchError(Exception):
    """A script or source map could not be fetched. `transient` failures (timeouts, 5xx, network errors) are worth
    retrying later; the others are remembered as the symbol set's failure reason."""

    transient = False


class TransientFetchError(FetchError):
    transient = True


class BlockedURL(FetchError):
    pass


class NoSourcemap(FetchError):
    """The script was fetched but names no source map: maybe it simply is not minified."""


@dataclass(frozen=True)
class FetchPolicy:
    allow_internal_ips: bool = False
    max_bytes: int = 20 * 1024 * 1024
    timeout: float = 30.0


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


class Fetcher:
    """GETs and HEADs with vetting, manual redirects, a byte cap and one deadline per call."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        client: httpx.Client | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.client = client or httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(policy.timeout, connect=min(CONNECT_TIMEOUT, policy.timeout)),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def _request(self, method: str, url: str, deadline: float) -> Fetched:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            pinned, host = vet(current, allow_internal_ips=self.policy.allow_internal_ips, resolver=self.resolver)
            parts = urlsplit(current)
            headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "Accept-Encoding": "gzip, deflate, br"}
            extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientFetchError(f"Request timed out while fetching: {url}")
            try:
                request = self.client.build_request(
                    method,
                    pinned,
                    headers=headers,
                    extensions=extensions,
                    timeout=httpx.Timeout(remaining, connect=min(CONNECT_TIMEOUT, remaining)),
                )
                response = self.client.send(request, stream=True)
            except httpx.TimeoutException:
                raise TransientFetchError(f"Request timed out while fetching: {current}") from None
            except httpx.HTTPError as exc:
                raise TransientFetchError(f"Network error while fetching: {current}: {exc}") from None
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    if not location:
                        raise FetchError(f"Redirect error while fetching: {current} (redirect without Location)")
                    current = urljoin(current, location)
                    continue
                if response.status_code >= 400:
                    transient = response.status_code >= 500 or response.status_code == 429
                    error = TransientFetchError if transient else FetchError
                    raise error(f"HTTP error {response.status_code} while fetching: {current}")
                body = b"" if method == "HEAD" else self._read(response, current, deadline)
                return Fetched(url=current, status=response.status_code, headers=response.headers, body=body)
            finally:
                response.close()
        raise FetchError(f"Redirect error while fetching: {url} (more than {MAX_REDIRECTS} redirects)")

    def _read(self, response: httpx.Response, url: str, deadline: float) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.policy.max_bytes and "content-encoding" not in response.headers:
            raise FetchError(f"Response from {url} exceeded the {self.policy.max_bytes} byte limit")
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_bytes(64 * 1024):
                total += len(chunk)
                if total > self.policy.max_bytes:
                    raise FetchError(f"Response from {url} exceeded the {self.policy.max_bytes} byte limit")
                if time.monotonic() > deadline:
                    raise TransientFetchError(f"Request timed out while fetching: {url}")
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise TransientFetchError(f"Request timed out while fetching: {url}") from None
        except httpx.DecodingError as exc:
            raise FetchError(f"Network error while fetching: {url}: undecodable body ({exc})") from None
        except httpx.HTTPError as exc:
            raise TransientFetchError(f"Network error while fetching: {url}: {exc}") from None
        return b"".join(chunks)

    def get(self, url: str) -> Fetched:
        return self._request("GET", url, time.monotonic() + self.policy.timeout)

    def exists(self, url: str) -> bool:
        try:
            return self._request("HEAD", url, time.monotonic() + self.policy.timeout).status < 300
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


def discover(fetcher: Fetcher, script_url: str) -> Discovered:
    """GET the script and find its source map: `SourceMap`/`X-SourceMap` header, else the last
    `sourceMappingURL` comment (absolute, relative or an inline `data:` URL), else `<script>.map` if it exists."""
    response = fetcher.get(script_url)
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
    if fetcher.exists(guess):
        found.map_url = guess
        return found
    raise NoSourcemap(f"Could not find sourcemap for source url: {script_url}")


def fetch_sourcemap(fetcher: Fetcher, found: Discovered) -> bytes:
    if found.map_data is not None:
        return found.map_data
    assert found.map_url is not None
    return fetcher.get(found.map_url).body
