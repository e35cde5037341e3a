"""Downloading one URL for a dataset or model import, guarded against server-side request forgery.

The URL comes from a user but is fetched from inside the platform's network, so it must not
reach what the user could not reach themselves: loopback, private and link-local addresses
(cloud metadata services live at 169.254.169.254), and the like. The host is resolved once,
every address it resolves to is checked, and the connection goes to a checked address, so a
DNS answer that changes between the check and the connection (DNS rebinding) cannot switch
targets; TLS still verifies the certificate against the host name in the URL. Every redirect
is checked the same way. No proxy from the environment is used: it would undo the pinning.

Everything here blocks; callers run it in a thread.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

__all__ = ["FetchError", "FetchPolicy", "FetchResult", "check_url", "fetch_url"]

_MiB = 1 << 20
_GiB = 1 << 30
_CHUNK = _MiB
_PROGRESS_INTERVAL = 0.1  # seconds: at most ~10 progress calls a second
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters left as they are when a path or query is percent-encoded: the reserved ones and
# "%" (already encoded sequences stay as the user wrote them).
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"
_FILENAME_UNSAFE = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Never a valid unicast destination, whatever the policy says about private ones.
_ALWAYS_REFUSED = frozenset({"unspecified", "multicast"})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(ValueError):
    """The URL cannot be imported; the message says why and what to do.

    ``field`` names the request field at fault (always ``"url"``); ``status`` is the HTTP
    status the server answered with, when that is the reason.
    """

    def __init__(self, message: str, *, field: str = "url", status: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(frozen=True)
class FetchPolicy:
    """What an import may download from.

    ``allow_private`` lets an administrator reach loopback, private, link-local and other
    non-public addresses (an intranet mirror, say). ``allowed_hosts`` lists host names (exact,
    case-insensitive) and IP networks (``"10.1.2.0/24"``, ``"192.168.0.5"``) that are allowed
    even though they are not public. ``ca_file`` adds a PEM bundle of certificate authorities
    to the system's, for mirrors with an internal CA.
    """

    allowed_schemes: tuple[str, ...] = ("https", "http")
    allow_private: bool = False
    allowed_hosts: tuple[str, ...] = ()
    max_bytes: int = 20 * _GiB
    timeout: float = 30.0  # seconds, for connecting and for each read
    max_redirects: int = 5
    user_agent: str = "jupyter-sxwl-import/1"
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.timeout <= 0 or self.max_redirects < 0:
            raise ValueError("max_bytes and timeout must be positive, max_redirects not negative")


@dataclass(frozen=True)
class FetchResult:
    """A finished download."""

    url: str  # the final URL, after redirects
    path: Path
    size: int
    sha256: str
    content_type: str | None  # media type only, lower case, e.g. "application/zip"
    filename: str  # a safe file name for the download, never empty


@dataclass(frozen=True)
class _Target:
    url: str  # normalised: no fragment, path percent-encoded
    scheme: str
    host: str  # ASCII host name or IP literal, without brackets
    port: int
    request_path: str  # path and query


def _refuse(message: str, status: int | None = None) -> FetchError:
    return FetchError(message, field="url", status=status)


def _parse(url: str, policy: FetchPolicy) -> _Target:
    """Check what can be checked without the network."""
    url = url.strip()
    if not url:
        raise _refuse("enter the URL of the file to import")
    if _CONTROL.search(url):
        raise _refuse("the URL contains control characters or line breaks; remove them")
    schemes = [s for s in ("http", "https") if s in {x.lower() for x in policy.allowed_schemes}]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise _refuse(f"{url!r} is not a valid URL ({e})") from e
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = " and ".join(schemes) or "no"
        given = f"{scheme}: URLs are" if scheme else "a URL without a scheme is"
        raise _refuse(
            f"only {allowed} URLs can be imported; {given} not supported "
            "(a URL looks like https://example.org/data.zip)"
        )
    if "@" in parts.netloc:
        # The URL is not repeated: it holds a secret.
        raise _refuse(
            "the URL contains a user name or password (the part before '@'); remove them: "
            "credentials in URLs are not supported"
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse(f"{url!r} has no host name; a URL looks like https://example.org/data.zip")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise _refuse(f"{url!r} has an invalid host name ({e})") from e
    port = port or (443 if scheme == "https" else 80)
    path = quote(parts.path or "/", safe=_URL_SAFE)
    query = quote(parts.query, safe=_URL_SAFE)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{port}"
    request_path = path + (f"?{query}" if query else "")
    return _Target(
        url=urlunsplit((scheme, netloc, path, query, "")),
        scheme=scheme,
        host=host,
        port=port,
        request_path=request_path,
    )


def _blocked_reason(ip: Address) -> str | None:
    """Why ``ip`` is no public internet address, or None when it is one."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = _blocked_reason(embedded)
            if reason is not None:
                return reason
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "carrier-grade NAT"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return None


def _allowance(policy: FetchPolicy) -> tuple[frozenset[str], tuple[Network, ...]]:
    names: set[str] = set()
    networks: list[Network] = []
    for entry in policy.allowed_hosts:
        entry = entry.strip().strip("[]").rstrip(".").lower()
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry)
    return frozenset(names), tuple(networks)


def _check_address(target: _Target, ip: Address, policy: FetchPolicy) -> None:
    names, networks = _allowance(policy)
    if target.host.lower() in names:
        return
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    if any(ip in net or (mapped is not None and mapped in net) for net in networks):
        return
    reason = _blocked_reason(ip)
    if reason is None or (policy.allow_private and reason not in _ALWAYS_REFUSED):
        return
    where = "" if _ip_literal(target.host) is not None else f" (the address of {target.host})"
    article = "an" if reason[0] in "aeiou" else "a"
    if reason == "link-local":
        reason = "link-local address, where cloud metadata services live"
    else:
        reason = f"{reason} address"
    raise _refuse(
        f"{target.url} points to {ip}{where}, {article} {reason}; imports may only download from "
        "public internet addresses (an administrator can allow this host in the import "
        "settings)"
    )


def _ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(target: _Target, policy: FetchPolicy) -> list[tuple[int, Any]]:
    """Resolve the host once and check every address; the (family, sockaddr) to connect to."""
    literal = _ip_literal(target.host)
    if literal is not None:
        # Checked before any socket call, so a refused literal causes no network I/O at all.
        _check_address(target, literal, policy)
        flags = int(socket.AI_NUMERICHOST)
    else:
        flags = 0
    try:
        infos = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=flags
        )
    except (OSError, UnicodeError) as e:
        raise _refuse(
            f"the host name {target.host!r} could not be resolved ({e}); check the URL"
        ) from e
    addresses: list[tuple[int, Any]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        _check_address(target, ipaddress.ip_address(sockaddr[0]), policy)
        if (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    if not addresses:
        raise _refuse(f"the host name {target.host!r} has no IP address; check the URL")
    return addresses


def check_url(url: str, policy: FetchPolicy) -> None:
    """Raise :class:`FetchError` when ``url`` may not be imported under ``policy``.

    Resolves the host name, so it may block for as long as DNS takes. Passing this check
    does not exempt the download: :func:`fetch_url` checks again, hop by hop.
    """
    _resolve(_parse(url, policy), policy)


def _connect(addresses: list[tuple[int, Any]], timeout: float | None) -> socket.socket:
    """A TCP connection to the first checked address that answers."""
    error: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            error = e
    assert error is not None
    raise error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to checked addresses only; the Host header still names the URL's host."""

    def __init__(self, host: str, port: int, addresses: list[tuple[int, Any]], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As :class:`_PinnedHTTPConnection`, with TLS verified against the URL's host name."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: list[tuple[int, Any]],
        timeout: float,
        context: ssl.SSLContext,
    ):
        super().__init__(host, port, timeout=timeout, context=context)
        self._addresses = addresses
        self._tls = context

    def connect(self) -> None:
        sock = _connect(self._addresses, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _tls_context(policy: FetchPolicy) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if policy.ca_file:
        context.load_verify_locations(cafile=policy.ca_file)
    return context


def _request(
    target: _Target,
    policy: FetchPolicy,
    addresses: list[tuple[int, Any]],
    headers: Mapping[str, str] | None = None,
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = _PinnedHTTPSConnection(
            target.host, target.port, addresses, policy.timeout, _tls_context(policy)
        )
    else:
        conn = _PinnedHTTPConnection(target.host, target.port, addresses, policy.timeout)
    try:
        conn.putrequest("GET", target.request_path, skip_accept_encoding=True)
        conn.putheader("User-Agent", policy.user_agent)
        conn.putheader("Accept", "*/*")
        # The bytes on the wire are the file: no transparent decompression.
        conn.putheader("Accept-Encoding", "identity")
        conn.putheader("Connection", "close")
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        return conn, conn.getresponse()
    except BaseException as e:
        conn.close()
        if isinstance(e, ssl.SSLCertVerificationError):
            raise _refuse(
                f"the TLS certificate of {target.host} could not be verified "
                f"({e.verify_message}); check the URL, or ask an administrator to add the "
                "server's certificate authority"
            ) from e
        if isinstance(e, TimeoutError):
            raise _refuse(
                f"{target.host}:{target.port} did not answer within {policy.timeout:g} s; "
                "try again later"
            ) from e
        if isinstance(e, http.client.HTTPException):
            raise _refuse(f"{target.url} did not answer with valid HTTP ({e!r})") from e
        if isinstance(e, OSError):
            raise _refuse(f"could not connect to {target.host}:{target.port} ({e})") from e
        raise


def _clean_filename(name: str | None) -> str | None:
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _FILENAME_UNSAFE.sub("_", name).strip(" .")
    if not name:
        return None
    encoded = name.encode("utf-8")
    if len(encoded) > 200:
        _stem, dot, ext = name.rpartition(".")
        keep = f".{ext}" if dot and 0 < len(ext) <= 16 else ""
        budget = 200 - len(keep.encode("utf-8"))
        name = encoded[:budget].decode("utf-8", "ignore").rstrip(" .") + keep
    return name or None


def _disposition_filename(response: http.client.HTTPResponse) -> str | None:
    name = response.headers.get_filename()
    if not name:
        return None
    try:
        # Header bytes arrive decoded as Latin-1; servers that send raw UTF-8 mean UTF-8.
        return name.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return name


def _url_filename(url: str) -> str | None:
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or None


def _save(
    response: http.client.HTTPResponse,
    target: _Target,
    dest: Path,
    policy: FetchPolicy,
    progress: Callable[[int, int | None], None] | None,
) -> tuple[int, str]:
    """Stream the body into ``dest`` through a ``.part`` file; the size and sha256."""
    total = response.length  # the Content-Length, or None (chunked, or read until closed)
    limit = policy.max_bytes
    if total is not None and total > limit:
        raise _refuse(
            f"{target.url} is {_size(total)}, more than the {_size(limit)} an import may "
            "download; ask an administrator to raise the limit"
        )
    part = dest.with_suffix(dest.suffix + ".part")
    digest = hashlib.sha256()
    done = 0
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(part, flags, 0o644)
        with os.fdopen(fd, "wb") as out:
            if progress is not None:
                progress(0, total)
            reported = time.monotonic()
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise _refuse(
                        f"the download of {target.url} broke off after {_size(done)} ({e!r}); "
                        "try again"
                    ) from e
                if not chunk:
                    break
                if done + len(chunk) > limit:
                    raise _refuse(
                        f"{target.url} is larger than the {_size(limit)} an import may "
                        "download; ask an administrator to raise the limit"
                    )
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                now = time.monotonic()
                if progress is not None and now - reported >= _PROGRESS_INTERVAL:
                    progress(done, total)
                    reported = now
        if total is not None and done < total:
            raise _refuse(
                f"the download of {target.url} broke off after {done} of {total} bytes; try again"
            )
        if progress is not None:
            progress(done, total)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return done, digest.hexdigest()


def _size(n: int) -> str:
    for unit, scale in (("GiB", _GiB), ("MiB", _MiB), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def fetch_url(
    url: str,
    dest: Path,
    *,
    policy: FetchPolicy,
    progress: Callable[[int, int | None], None] | None = None,
    headers: Mapping[str, str] | None = None,
) -> FetchResult:
    """Download ``url`` into the file ``dest`` under ``policy``.

    ``headers`` (e.g. ``Authorization``) go to the URL's own host only, never to a host a
    redirect leads to (a CDN must not see a hub token).

    Follows up to ``policy.max_redirects`` redirects, checking each hop like the first. The
    body goes to ``dest`` plus ``.part`` and is renamed to ``dest`` when complete; on any
    failure nothing is left behind. ``progress(done, total)`` is called at most about ten
    times a second (``total`` is None when the server sends no length). Raises
    :class:`FetchError` for refused URLs, errors answered by the server, and broken
    transfers. An exception raised by ``progress`` cancels the download.
    """
    first = _parse(url, policy)
    target = first
    referrer: _Target | None = None  # the URL that redirected to ``target``
    for _hop in range(policy.max_redirects + 1):
        try:
            addresses = _resolve(target, policy)
        except FetchError as e:
            if referrer is None:
                raise
            raise _refuse(f"{referrer.url} redirected to a refused URL: {e}") from e
        extra = headers if (target.host, target.port) == (first.host, first.port) else None
        conn, response = _request(target, policy, addresses, extra)
        try:
            status = response.status
            if status in _REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise _refuse(
                        f"{target.url} answered {status} without saying where to go", status
                    )
                following = urljoin(target.url, location.strip())
                try:
                    referrer, target = target, _parse(following, policy)
                except FetchError as e:
                    raise _refuse(f"{target.url} redirected to a refused URL: {e}", status) from e
                continue
            if not 200 <= status < 300:
                raise _refuse(
                    f"{target.url} answered {status} {response.reason}; check the URL "
                    "(and that the file is public)",
                    status,
                )
            size, sha256 = _save(response, target, dest, policy, progress)
            media = (response.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
            filename = (
                _clean_filename(_disposition_filename(response))
                or _clean_filename(_url_filename(target.url))
                or _clean_filename(_url_filename(first.url))
                or "download"
            )
            return FetchResult(
                url=target.url,
                path=dest,
                size=size,
                sha256=sha256,
                content_type=media or None,
                filename=filename,
            )
        finally:
            conn.close()
    raise _refuse(
        f"{first.url} redirected more than {policy.max_redirects} times; use the URL of the "
        "file itself"
    )
