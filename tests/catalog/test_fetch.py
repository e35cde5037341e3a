"""URL imports against real HTTP(S) servers on loopback addresses.

Loopback is exactly what the default policy refuses, so the tests that download allow it
explicitly, in the ways an administrator would. Socket activity is observed through Python's
audit hooks (``socket.getaddrinfo``, ``socket.connect``), not by replacing anything.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jupyter_sxwl.catalog.fetch import FetchError, FetchPolicy, check_url, fetch_url
from tests.support import QuietServer

MiB = 1 << 20
BODY = os.urandom(3 * MiB + 123)
LOCAL = FetchPolicy(allow_private=True)


# Observing sockets.

_recording: list[tuple[str, tuple[Any, ...]]] | None = None
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recording is not None and event in ("socket.getaddrinfo", "socket.connect"):
        _recording.append((event, args))


@pytest.fixture
def socket_events() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Every name lookup and outgoing connection made while the test runs."""
    global _recording, _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)  # hooks cannot be removed; it records only inside this fixture
        _hook_installed = True
    events: list[tuple[str, tuple[Any, ...]]] = []
    _recording = events
    try:
        yield events
    finally:
        _recording = None


# Servers.


@dataclass
class Server:
    host: str
    port: int
    scheme: str = "http"
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        headers.setdefault("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        record: Server = self.server.record
        record.requests.append((self.path, dict(self.headers)))
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        if path == "/file.bin" or path.startswith("/files/"):
            self.send(200, BODY, Content_Type="application/octet-stream")
        elif path == "/named":
            self.send(
                200,
                b"a,b\n",
                Content_Type="text/csv; charset=utf-8",
                Content_Disposition="attachment; filename*=UTF-8''na%C3%AFve%20data.csv",
            )
        elif path == "/sneaky-name":
            self.send(200, b"x", Content_Disposition='attachment; filename="../../.bashrc"')
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            remaining = int(query["n"])
            while remaining:
                piece = BODY[: min(remaining, 64 * 1024)]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                remaining -= len(piece)
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/huge":
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
        elif path == "/short":
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only ten b")
        elif path == "/stall":
            time.sleep(2)
            self.send(200, b"late")
        elif path == "/redirect":
            self.send(int(query.get("status", "302")), Location=query["to"])
        elif path == "/loop":
            self.send(302, Location="/loop")
        else:
            self.send(404, b"not found")


def start_server(host: str, tls: ssl.SSLContext | None = None) -> tuple[Server, Any]:
    httpd = QuietServer((host, 0), Handler)
    record = Server(host, httpd.server_address[1], "https" if tls else "http")
    httpd.record = record  # type: ignore[attr-defined]
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return record, httpd


@pytest.fixture
def server() -> Iterator[Server]:
    record, httpd = start_server("127.0.0.1")
    yield record
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def other_server() -> Iterator[Server]:
    """A second server on another loopback address, a redirect target."""
    record, httpd = start_server("127.0.0.2")
    yield record
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A private CA and a certificate for the name "localhost" only (no IP address)."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "import test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@pytest.fixture
def tls_server(tls_files: tuple[Path, Path, Path]) -> Iterator[Server]:
    _ca, cert_file, key_file = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    record, httpd = start_server("127.0.0.1", context)
    record.server_names = names
    yield record
    httpd.shutdown()
    httpd.server_close()


def assert_nothing_written(dest: Path) -> None:
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()
    assert list(dest.parent.iterdir()) == []


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    (tmp_path / "downloads").mkdir()
    return tmp_path / "downloads" / "upload.bin"


# Downloading.


def test_download_writes_the_file_with_its_hash(server: Server, dest: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    started = time.monotonic()

    result = fetch_url(
        server.url("/file.bin"), dest, policy=LOCAL, progress=lambda d, t: calls.append((d, t))
    )

    elapsed = time.monotonic() - started
    assert dest.read_bytes() == BODY
    assert result.path == dest
    assert result.size == len(BODY)
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert result.content_type == "application/octet-stream"
    assert result.filename == "file.bin"
    assert result.url == server.url("/file.bin")
    assert os.listdir(dest.parent) == ["upload.bin"]  # no .part left
    assert calls[0] == (0, len(BODY))
    assert calls[-1] == (len(BODY), len(BODY))
    assert len(calls) <= 2 + int(elapsed * 10) + 1
    path, headers = server.requests[0]
    assert path == "/file.bin"
    assert headers["Accept-Encoding"] == "identity"


def test_chunked_body_without_length_downloads(server: Server, dest: Path) -> None:
    calls: list[tuple[int, int | None]] = []

    result = fetch_url(
        server.url("/chunked?n=200000"),
        dest,
        policy=LOCAL,
        progress=lambda d, t: calls.append((d, t)),
    )

    assert dest.read_bytes() == BODY[:65536] * 3 + BODY[: 200000 - 3 * 65536]
    assert result.size == 200000
    assert calls[-1] == (200000, None)


def test_filename_comes_from_content_disposition_or_the_url(server: Server, dest: Path) -> None:
    named = fetch_url(server.url("/named"), dest, policy=LOCAL)
    from_path = fetch_url(server.url("/files/model%20v2.safetensors?x=1"), dest, policy=LOCAL)
    sneaky = fetch_url(server.url("/sneaky-name"), dest, policy=LOCAL)

    assert named.filename == "naïve data.csv"
    assert named.content_type == "text/csv"
    assert from_path.filename == "model v2.safetensors"
    assert sneaky.filename == "bashrc"


def test_404_is_an_error_naming_the_status(server: Server, dest: Path) -> None:
    with pytest.raises(FetchError, match="answered 404 Not Found") as caught:
        fetch_url(server.url("/nothing-here"), dest, policy=LOCAL)

    assert caught.value.status == 404
    assert caught.value.field == "url"
    assert_nothing_written(dest)


def test_declared_length_over_the_limit_is_refused_before_reading(
    server: Server, dest: Path
) -> None:
    policy = FetchPolicy(allow_private=True, max_bytes=MiB)

    with pytest.raises(FetchError, match="931 GiB, more than the 1 MiB an import may download"):
        fetch_url(server.url("/huge"), dest, policy=policy)

    assert_nothing_written(dest)


def test_chunked_body_over_the_limit_is_cut_off(server: Server, dest: Path) -> None:
    policy = FetchPolicy(allow_private=True, max_bytes=100_000)

    with pytest.raises(FetchError, match=r"larger than the 97\.7 KiB an import may download"):
        fetch_url(server.url("/chunked?n=300000"), dest, policy=policy)

    assert_nothing_written(dest)


def test_body_shorter_than_declared_is_an_error(server: Server, dest: Path) -> None:
    with pytest.raises(FetchError, match="broke off after 10 of 1000 bytes"):
        fetch_url(server.url("/short"), dest, policy=LOCAL)

    assert_nothing_written(dest)


def test_a_server_that_does_not_answer_times_out(server: Server, dest: Path) -> None:
    policy = FetchPolicy(allow_private=True, timeout=0.3)

    with pytest.raises(FetchError, match=r"did not answer within 0\.3 s"):
        fetch_url(server.url("/stall"), dest, policy=policy)

    assert_nothing_written(dest)


# Where downloads may come from.


def test_loopback_is_refused_by_default(server: Server, dest: Path) -> None:
    with pytest.raises(FetchError, match=r"127\.0\.0\.1, a loopback address") as caught:
        fetch_url(server.url("/file.bin"), dest, policy=FetchPolicy())

    assert caught.value.field == "url"
    assert server.requests == []
    assert_nothing_written(dest)


def test_a_host_name_resolving_to_loopback_is_refused_by_default(
    server: Server, dest: Path
) -> None:
    with pytest.raises(FetchError, match=r"the address of localhost.*loopback"):
        fetch_url(server.url("/file.bin", host="localhost"), dest, policy=FetchPolicy())
    with pytest.raises(FetchError, match="loopback"):
        check_url(server.url("/file.bin", host="localhost"), FetchPolicy())

    assert server.requests == []


@pytest.mark.parametrize(
    "policy",
    [
        FetchPolicy(allow_private=True),
        FetchPolicy(allowed_hosts=("127.0.0.1",)),
        FetchPolicy(allowed_hosts=("127.0.0.0/8",)),
        FetchPolicy(allowed_hosts=("LocalHost",)),
    ],
    ids=["allow_private", "allowed address", "allowed network", "allowed name"],
)
def test_an_administrator_can_allow_loopback(
    server: Server, dest: Path, policy: FetchPolicy
) -> None:
    host = "localhost" if "LocalHost" in policy.allowed_hosts else None

    result = fetch_url(server.url("/file.bin", host=host), dest, policy=policy)

    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    check_url(server.url("/file.bin", host=host), policy)


def test_the_connection_goes_to_the_address_that_was_checked(
    server: Server, dest: Path, socket_events: list[tuple[str, tuple[Any, ...]]]
) -> None:
    policy = FetchPolicy(allowed_hosts=("localhost",))

    fetch_url(server.url("/file.bin", host="localhost"), dest, policy=policy)

    lookups = [args for event, args in socket_events if event == "socket.getaddrinfo"]
    connects = [args[1] for event, args in socket_events if event == "socket.connect"]
    assert [args[0] for args in lookups] == ["localhost"]  # resolved exactly once
    assert connects
    for address in connects:
        ipaddress.ip_address(address[0])  # an IP, never a name to resolve again
    assert connects[-1][:2] == ("127.0.0.1", server.port)
    assert server.requests[0][1]["Host"] == f"localhost:{server.port}"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local address, where cloud metadata"),
        ("http://[::1]/", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://10.0.0.1", "private"),
        ("http://172.16.5.4/", "private"),
        ("https://192.168.1.1:8443/x", "private"),
        ("http://100.64.1.1", "carrier-grade NAT"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fc00::1]/", "private"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 around 169.254.169.254
        ("http://192.0.2.1/", "private|non-public"),
    ],
)
def test_non_public_addresses_are_refused_without_network_io(
    url: str, reason: str, dest: Path, socket_events: list[tuple[str, tuple[Any, ...]]]
) -> None:
    with pytest.raises(FetchError, match=reason) as caught:
        fetch_url(url, dest, policy=FetchPolicy())
    with pytest.raises(FetchError, match=reason):
        check_url(url, FetchPolicy())

    assert caught.value.field == "url"
    assert socket_events == []
    assert_nothing_written(dest)


def test_numeric_host_spellings_are_checked_as_addresses() -> None:
    # 2130706433 and 0x7f.1 are spellings of 127.0.0.1 that the resolver accepts.
    for url in ("http://2130706433/", "http://0x7f.1/"):
        with pytest.raises(FetchError, match="loopback"):
            check_url(url, FetchPolicy())


def test_allow_private_still_refuses_addresses_nothing_listens_on() -> None:
    for url in ("http://0.0.0.0/", "http://224.0.0.1/"):
        with pytest.raises(FetchError, match=r"unspecified|multicast"):
            check_url(url, FetchPolicy(allow_private=True))


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.org/data.zip",
        "gopher://example.org/",
        "data:text/plain,hello",
        "javascript:alert(1)",
        "example.org/data.zip",
    ],
)
def test_other_schemes_are_refused(
    url: str, dest: Path, socket_events: list[tuple[str, tuple[Any, ...]]]
) -> None:
    with pytest.raises(FetchError, match="only http and https URLs can be imported"):
        fetch_url(url, dest, policy=FetchPolicy())

    assert socket_events == []


def test_policy_values_are_checked() -> None:
    with pytest.raises(ValueError):
        FetchPolicy(max_bytes=0)
    with pytest.raises(ValueError):
        FetchPolicy(max_redirects=-1)


def test_the_policy_can_require_https() -> None:
    with pytest.raises(FetchError, match="only https URLs can be imported; http: URLs are not"):
        check_url("http://example.org/", FetchPolicy(allowed_schemes=("https",)))


def test_credentials_in_the_url_are_refused_without_repeating_them() -> None:
    with pytest.raises(FetchError, match=r"user name or password .* remove them") as caught:
        check_url("https://alice:s3cret@example.org/data.zip", FetchPolicy())

    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http:///data.zip", "has no host name"),
        ("https://", "has no host name"),
        ("http://example.org:99999/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
        ("  ", "enter the URL"),
        ("http://example.org/a\nb", "control characters"),
    ],
)
def test_malformed_urls_are_refused(url: str, match: str) -> None:
    with pytest.raises(FetchError, match=match):
        check_url(url, FetchPolicy())


# Redirects.


def test_relative_redirect_is_followed(server: Server, dest: Path) -> None:
    result = fetch_url(server.url("/redirect?to=/file.bin&status=301"), dest, policy=LOCAL)

    assert result.url == server.url("/file.bin")
    assert result.filename == "file.bin"
    assert dest.read_bytes() == BODY


@pytest.mark.parametrize(
    "allowed",
    [("localhost",), ("127.0.0.1",)],
    ids=["allowed by name", "allowed by address"],
)
def test_redirect_to_an_address_the_first_host_was_allowed_past_is_refused(
    server: Server, other_server: Server, dest: Path, allowed: tuple[str, ...]
) -> None:
    # The first hop is allowed only through allowed_hosts; the second goes to another
    # loopback address that nothing allows, and must never be contacted.
    host = "localhost" if allowed == ("localhost",) else None
    target = other_server.url("/file.bin")
    url = server.url(f"/redirect?to={target}&status=307", host=host)

    with pytest.raises(
        FetchError, match=r"redirected to a refused URL: .*127\.0\.0\.2, a loopback"
    ):
        fetch_url(url, dest, policy=FetchPolicy(allowed_hosts=allowed))

    assert len(server.requests) == 1
    assert other_server.requests == []
    assert_nothing_written(dest)

    # The same chain passes once the second address is allowed too.
    fetch_url(url, dest, policy=FetchPolicy(allowed_hosts=(*allowed, "127.0.0.2")))
    assert len(other_server.requests) == 1
    assert dest.read_bytes() == BODY


def test_redirect_to_another_scheme_is_refused(server: Server, dest: Path) -> None:
    url = server.url("/redirect?to=file:///etc/passwd")

    with pytest.raises(FetchError, match="redirected to a refused URL: only http and https"):
        fetch_url(url, dest, policy=LOCAL)

    assert_nothing_written(dest)


def test_endless_redirects_stop(server: Server, dest: Path) -> None:
    with pytest.raises(FetchError, match="redirected more than 3 times"):
        fetch_url(
            server.url("/loop"), dest, policy=FetchPolicy(allow_private=True, max_redirects=3)
        )

    assert len(server.requests) == 4


# TLS.


def test_tls_is_verified_against_the_host_name_while_the_address_is_pinned(
    tls_server: Server, tls_files: tuple[Path, Path, Path], dest: Path
) -> None:
    ca_file = str(tls_files[0])
    policy = FetchPolicy(allowed_hosts=("localhost",), ca_file=ca_file)

    result = fetch_url(tls_server.url("/file.bin", host="localhost"), dest, policy=policy)

    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert tls_server.server_names == ["localhost"]  # SNI names the host, not the address


def test_tls_certificate_not_matching_the_url_is_refused(
    tls_server: Server, tls_files: tuple[Path, Path, Path], dest: Path
) -> None:
    ca_file = str(tls_files[0])
    # The certificate names "localhost", not the address the URL uses.
    by_address = FetchPolicy(allow_private=True, ca_file=ca_file)
    with pytest.raises(FetchError, match=r"certificate of 127\.0\.0\.1 could not be verified"):
        fetch_url(tls_server.url("/file.bin"), dest, policy=by_address)
    # Without the private CA the certificate is not trusted at all.
    untrusted = FetchPolicy(allowed_hosts=("localhost",))
    with pytest.raises(FetchError, match="certificate of localhost could not be verified"):
        fetch_url(tls_server.url("/file.bin", host="localhost"), dest, policy=untrusted)

    assert tls_server.requests == []
    assert_nothing_written(dest)


def test_extra_headers_reach_the_first_host_only(
    server: Server, other_server: Server, dest: Path
) -> None:
    target = other_server.url("/file.bin")
    fetch_url(
        server.url(f"/redirect?to={target}"),
        dest,
        policy=LOCAL,
        headers={"Authorization": "Bearer hub-token"},
    )
    assert server.requests[0][1].get("Authorization") == "Bearer hub-token"
    assert "Authorization" not in other_server.requests[0][1]
    assert dest.read_bytes() == BODY
