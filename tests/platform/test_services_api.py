"""Services through the REST API and the gateway of a real hub (S2 to S5, S7).

The services here are a small standard-library HTTP server from a code package, so they
start in well under a second; the LLM service with the real model server is tested in
test_gateway.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib.util
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.platform.conftest import PLATFORM_CONFIG, Api
from tests.platform.test_datasets_api import problem
from tests.platform.test_jobs_api import upload
from tests.support import Hub, start_hub

PORTS = (26000, 26999)

# A tiny HTTP app: answers with its GREETING, echoes POST bodies, streams events on /stream
# until /release is called (so a test can tell streamed from buffered without timing).
APP = r"""
import json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

time.sleep(float(os.environ.get("START_DELAY", "0")))
GREETING = os.environ.get("GREETING", "hello")
released = threading.Event()
if os.environ.get("SLOW_EXIT"):
    def _slow(*_):
        time.sleep(float(os.environ["SLOW_EXIT"]))
        sys.exit(0)
    signal.signal(signal.SIGTERM, _slow)


class Handler(BaseHTTPRequestHandler):
    def _json(self, body, code=200):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"data: first\n\n")
            self.wfile.flush()
            ok = released.wait(20)
            self.wfile.write(("data: released=%s\n\n" % ok).encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        if self.path.startswith("/release"):
            released.set()
        if self.path.startswith("/slow"):
            time.sleep(0.3)
        headers = {k.lower(): v for k, v in self.headers.items()}
        port = os.environ["SXWL_PORT"]
        cuda = os.environ.get("CUDA_VISIBLE_DEVICES")
        self._json(
            {"greeting": GREETING, "path": self.path, "headers": headers, "port": port,
             "cuda": cuda}
        )

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._json({"echo": body.decode()}, 201)

    def log_message(self, fmt, *args):
        print("request", fmt % args, flush=True)


print("listening on", os.environ["SXWL_PORT"], flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["SXWL_PORT"])), Handler).serve_forever()
"""

SERVICES_CONFIG = (
    PLATFORM_CONFIG
    + f"""
c.SxwlPlatform.service_ports = "{PORTS[0]}-{PORTS[1]}"
c.SxwlPlatform.service_check_interval = 0.5
c.SxwlPlatform.service_wake_timeout = 6
c.SxwlPlatformApp.stop_jobs_on_exit = True
"""
)


@pytest.fixture(scope="module")
def api_hub() -> Iterator[Hub]:
    with start_hub(name="services", platform_config_text=SERVICES_CONFIG) as hub:
        yield hub


@pytest.fixture(scope="module")
def app_package(alice: Api) -> str:
    return upload(alice, {"app.py": APP})


def gateway(api: Api, name: str) -> str:
    return f"{api.hub.url}/services/sxwl/endpoints/{name}/"


def deploy(api: Api, name: str, package: str | None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "kind": "custom", "command": "python app.py"}
    if package:
        body["code_package"] = package
    body.update(fields)
    r = api.call("POST", "services", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_status(api: Api, service: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        svc: dict[str, Any] = api.get(f"services/{service}")
        if svc["status"] in statuses:
            return svc
        assert time.monotonic() < deadline, f"still {svc['status']}: {svc}"
        time.sleep(0.2)


def new_key(api: Api, service: str) -> dict[str, Any]:
    r = api.call("POST", f"services/{service}/keys", json={"name": "tests"})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['bearer']}"}


def events(api: Api, service: str) -> list[str]:
    return [e["kind"] for e in reversed(api.get(f"services/{service}/events")["items"])]


def test_custom_service_lifecycle(alice: Api, app_package: str) -> None:
    svc = deploy(alice, "hello", app_package, env={"GREETING": "hi"})
    assert svc["status"] == "starting" and svc["id"].startswith("svc-")
    assert svc["address"] == "/services/sxwl/endpoints/hello/"
    svc = wait_status(alice, svc["id"], "running")
    listed = alice.get("services")["items"]
    assert [s["name"] for s in listed] == ["hello"] and listed[0]["status"] == "running"

    key = new_key(alice, "hello")
    assert key["app_secret"] and key["bearer"].startswith("sk-sxwl-")
    r = requests.get(gateway(alice, "hello") + "greet?x=1", headers=bearer(key), timeout=30)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["greeting"] == "hi" and answer["path"] == "/greet?x=1"
    # The gateway's credentials stay at the gateway.
    assert "authorization" not in answer["headers"]
    r = requests.post(gateway(alice, "hello"), data="ping", headers=bearer(key), timeout=30)
    assert (r.status_code, r.json()) == (201, {"echo": "ping"})

    keys = alice.get("services/hello/keys")["items"]
    assert keys[0]["requests"] == 2 and "app_secret" not in keys[0] and "bearer" not in keys[0]
    log = alice.call("GET", "services/hello/logs").text
    assert "listening on" in log and "request" in log
    assert alice.get("services/hello")["usage"]["requests"] == 2

    r = alice.call("POST", "services/hello/stop")
    assert r.json()["status"] == "stopped"
    r = requests.get(gateway(alice, "hello"), headers=bearer(key), timeout=30)
    assert r.status_code == 503 and "stopped" in r.json()["error"]["message"]
    alice.call("POST", "services/hello/start")
    wait_status(alice, "hello", "running")
    alice.call("POST", "services/hello/restart")
    wait_status(alice, "hello", "running")
    r = requests.get(gateway(alice, "hello"), headers=bearer(key), timeout=30)
    assert r.status_code == 200
    kinds = events(alice, "hello")
    assert kinds[:3] == ["created", "started", "ready"]
    assert "stopped" in kinds and kinds[-1] == "ready"

    assert alice.call("DELETE", "services/hello").status_code == 204
    assert alice.call("GET", "services/hello").status_code == 404
    r = requests.get(gateway(alice, "hello"), headers=bearer(key), timeout=30)
    assert r.status_code == 401  # its keys went with it


def test_update_switches_without_a_failed_request(alice: Api, app_package: str) -> None:
    deploy(alice, "rolling", app_package, env={"GREETING": "v1"})
    wait_status(alice, "rolling", "running")
    key = new_key(alice, "rolling")
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            r = requests.get(gateway(alice, "rolling") + "slow", headers=bearer(key), timeout=60)
            seen.append((r.status_code, r.json().get("greeting", r.text)))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        r = alice.call("PATCH", "services/rolling", json={"env": {"GREETING": "v2"}})
        assert r.status_code == 200, r.text
        assert r.json()["revision"] == 2
        deadline = time.monotonic() + 60
        while not any(g == "v2" for _, g in seen[-3:]):
            assert time.monotonic() < deadline, seen[-3:]
            time.sleep(0.2)
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert all(code == 200 for code, _ in seen), [s for s in seen if s[0] != 200]
    assert {g for _, g in seen} == {"v1", "v2"}
    revisions = alice.get("services/rolling/revisions")["items"]
    assert [r["number"] for r in revisions] == [2, 1]
    assert revisions[0]["changes"] == [
        {"field": "env", "old": {"GREETING": "v1"}, "new": {"GREETING": "v2"}}
    ]
    assert "updated" in events(alice, "rolling")
    svc = alice.get("services/rolling")
    assert svc["serving_revision"] == 2 and svc["status"] == "running"
    alice.call("DELETE", "services/rolling")


def test_replicas_share_the_requests(alice: Api, app_package: str) -> None:
    deploy(alice, "pair", app_package, resources={"replicas": 2})
    svc = wait_status(alice, "pair", "running")
    assert svc["usage"]["replicas"] == 2
    key = new_key(alice, "pair")
    ports = {
        requests.get(gateway(alice, "pair"), headers=bearer(key), timeout=30).json()["port"]
        for _ in range(4)
    }
    assert len(ports) == 2
    assert "listening on" in alice.call("GET", "services/pair/logs?replica=1").text
    alice.call("DELETE", "services/pair")


def test_a_command_that_exits_at_once_fails_with_its_last_log_lines(alice: Api) -> None:
    deploy(alice, "broken", None, command="echo 'cannot find model.bin' >&2; exit 3")
    svc = wait_status(alice, "broken", "failed")
    assert "code 3" in svc["message"] and "cannot find model.bin" in svc["message"]
    assert events(alice, "broken")[-1] == "failed"
    # Editing a failed service tries again with the new configuration.
    r = alice.call("PATCH", "services/broken", json={"command": "echo still broken; exit 4"})
    assert r.status_code == 200, r.text
    time.sleep(0.5)
    svc = wait_status(alice, "broken", "failed")
    assert "still broken" in svc["message"]
    alice.call("DELETE", "services/broken")


def test_sleep_after_idle_minutes_and_wake_on_request(alice: Api, app_package: str) -> None:
    deploy(alice, "sleepy", app_package, sleep_after_minutes=0.02)
    key = new_key(alice, "sleepy")
    wait_status(alice, "sleepy", "running")
    svc = wait_status(alice, "sleepy", "sleeping")
    assert "no request for" in svc["message"] and svc["usage"]["replicas"] == 0
    metered = svc["usage"]["running_seconds"]
    r = requests.get(gateway(alice, "sleepy"), headers=bearer(key), timeout=60)
    assert r.status_code == 200, r.text
    kinds = events(alice, "sleepy")
    assert "sleeping" in kinds and "woken" in kinds and kinds[-1] in ("ready", "sleeping")
    assert alice.get("services/sleepy")["usage"]["running_seconds"] >= metered

    # A wake that takes longer than the platform waits: a clear 503, and it goes on starting.
    alice.call("POST", "services/sleepy/sleep")
    wait_status(alice, "sleepy", "sleeping")
    r = alice.call(
        "PATCH", "services/sleepy", json={"env": {"START_DELAY": "30"}, "sleep_after_minutes": None}
    )
    assert r.status_code == 200, r.text
    r = requests.get(gateway(alice, "sleepy"), headers=bearer(key), timeout=60)
    assert r.status_code == 503
    assert "did not become ready within" in r.json()["error"]["message"]
    alice.call("DELETE", "services/sleepy")


def test_a_request_while_the_service_is_deleted(alice: Api, app_package: str) -> None:
    deploy(alice, "leaving", app_package, env={"SLOW_EXIT": "2"})
    wait_status(alice, "leaving", "running")
    key = new_key(alice, "leaving")
    done = threading.Thread(target=lambda: alice.call("DELETE", "services/leaving"))
    done.start()
    answers = []
    while done.is_alive():
        r = requests.get(gateway(alice, "leaving"), headers=bearer(key), timeout=30)
        answers.append((r.status_code, r.json().get("error", {}).get("message", "")))
        time.sleep(0.05)
    done.join()
    assert (503, "the service is being deleted") in answers, answers


def test_https_certificate_is_checked_and_its_key_never_shown(alice: Api) -> None:
    cert, key = self_signed("chat.example.com")
    body = {"https": {"domain": "chat.example.com", "certificate": cert, "private_key": key}}
    svc = deploy(alice, "secure", None, command="python -m http.server $SXWL_PORT", **body)
    assert svc["https"]["domain"] == "chat.example.com"
    assert "private_key" not in svc["https"]
    assert "PRIVATE KEY" not in str(alice.get("services/secure"))
    alice.call("DELETE", "services/secure")


def self_signed(domain: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key.decode()


def _bad_inputs() -> list[Any]:
    cert, key = self_signed("chat.example.com")
    _, other_key = self_signed("chat.example.com")
    https = {"domain": "chat.example.com", "certificate": cert, "private_key": key}
    return [
        pytest.param({"port": 80}, "port", id="port-outside-the-range"),
        pytest.param({"port": PORTS[1] + 1}, "port", id="port-above-the-range"),
        pytest.param({"command": None}, "command", id="no-command"),
        pytest.param({"kind": "llm", "command": None}, "model", id="llm-without-model"),
        pytest.param(
            {"kind": "llm", "command": None, "model": {"name": "no-such-model"}},
            "model.name",
            id="unknown-model",
        ),
        pytest.param({"requirements": "requests>=2\nnot a requirement!"}, "requirements", id="req"),
        pytest.param({"env": {"SXWL_PORT": "1"}}, "env", id="reserved-env"),
        pytest.param({"resources": {"flavour": "tpu"}}, "resources.flavour", id="flavour"),
        pytest.param({"resources": {"replicas": 0}}, "resources.replicas", id="replicas"),
        pytest.param({"sleep_after_minutes": 0}, "sleep_after_minutes", id="sleep"),
        pytest.param({"code_package": "code-0123456789"}, "code_package", id="package"),
        pytest.param({"name": "no spaces"}, "name", id="name"),
        pytest.param({"colour": "red"}, "colour", id="unknown-field"),
        pytest.param(
            {"https": {**https, "private_key": other_key}},
            "https.certificate",
            id="certificate-not-matching-its-key",
        ),
        pytest.param(
            {"https": {**https, "domain": "other.example.org"}},
            "https.certificate",
            id="certificate-for-another-domain",
        ),
        pytest.param(
            {"https": {**https, "certificate": "not a certificate"}},
            "https.certificate",
            id="not-a-certificate",
        ),
    ]


@pytest.mark.parametrize(("fields", "field"), _bad_inputs())
def test_bad_input_names_the_field(alice: Api, fields: dict[str, Any], field: str) -> None:
    body: dict[str, Any] = {"name": "bad", "kind": "custom", "command": "true", **fields}
    problem(alice.call("POST", "services", json=body), 400, field)
    assert all(s["name"] != "bad" for s in alice.get("services")["items"])


def test_a_port_in_use_is_refused(alice: Api) -> None:
    with socket.socket() as s:
        for port in range(PORTS[0] + 500, PORTS[1]):
            try:
                s.bind(("127.0.0.1", port))
                break
            except OSError:
                continue
        s.listen()
        r = alice.call(
            "POST",
            "services",
            json={"name": "taken", "kind": "custom", "command": "true", "port": port},
        )
        detail = problem(r, 400, "port")
        assert "in use" in detail


def test_someone_elses_service_is_a_404(alice: Api, bob: Api, app_package: str) -> None:
    deploy(alice, "private", app_package)
    key = new_key(alice, "private")
    svc = alice.get("services/private")
    for method, path in [
        ("GET", f"services/{svc['id']}"),
        ("PATCH", f"services/{svc['id']}"),
        ("DELETE", f"services/{svc['id']}"),
        ("POST", f"services/{svc['id']}/stop"),
        ("GET", f"services/{svc['id']}/keys"),
        ("POST", f"services/{svc['id']}/keys"),
        ("DELETE", f"services/{svc['id']}/keys/{key['id']}"),
        ("GET", f"services/{svc['id']}/logs"),
        ("GET", f"services/{svc['id']}/events"),
    ]:
        problem(bob.call(method, path, json={}), 404)
    assert bob.get("services")["items"] == []
    # Bob's own key does not reach Alice's service either.
    deploy(bob, "mine", None, command="python -m http.server $SXWL_PORT")
    bobs = new_key(bob, "mine")
    r = requests.get(gateway(alice, "private"), headers=bearer(bobs), timeout=30)
    assert r.status_code == 404
    assert alice.get("services/private")["status"] in ("starting", "running")
    alice.call("DELETE", "services/private")
    bob.call("DELETE", "services/mine")


def test_replicas_are_placed_by_the_scheduler_and_share_quotas_with_jobs(
    alice: Api, app_package: str
) -> None:
    def create(name: str, **resources: Any) -> requests.Response:
        body = {"name": name, "kind": "custom", "command": "python app.py"}
        body.update(code_package=app_package, resources=resources)
        return alice.call("POST", "services", json=body)

    # What could never be placed is refused at once, naming the field.
    assert "unknown queue" in problem(create("x", queue="nope"), 400, "resources.queue")
    no_cards = problem(create("x", accelerators=1), 400, "resources.accelerators")
    assert "no accelerator cards" in no_cards and "gpu-a100" in no_cards
    assert "8 CPUs" in problem(create("x", cpu=9), 400, "resources.cpu")

    # A GPU replica gets cards of its own, handed to it as the flavour names them.
    gpu = {"flavour": "gpu-a100", "queue": "gpu", "cpu": 4}
    assert create("on-gpu", accelerators=2, **gpu).status_code == 201
    svc = wait_status(alice, "on-gpu", "running", "failed")
    assert svc["status"] == "running", svc
    (slot,) = svc["placement"]
    assert len(slot["cards"]) == 2
    key = new_key(alice, "on-gpu")
    r = requests.get(gateway(alice, "on-gpu"), headers=bearer(key), timeout=30)
    assert r.json()["cuda"] == ",".join(str(c) for c in slot["cards"])

    # alice may hold 4 cards at once: the service's 2 count, so a 4-card job waits for them...
    job = alice.submit(
        command="true", flavour="gpu-a100", queue="gpu", accelerators_per_node=4, cpu_per_node=4
    )
    deadline = time.monotonic() + 30
    while "you use 2 of your 4 cards" not in (alice.get(f"jobs/{job['id']}")["wait_reason"] or ""):
        assert time.monotonic() < deadline, alice.get(f"jobs/{job['id']}")["wait_reason"]
        time.sleep(0.3)
    # ...and a second service asking for 3 more cannot start now, and says why.
    assert create("too-many", accelerators=3, **gpu).status_code == 201
    failed = wait_status(alice, "too-many", "failed")
    why = "no room to start the service now: you use 2 of your 4 cards, a replica needs 3"
    assert failed["message"] == why, failed
    assert alice.call("DELETE", "services/too-many").status_code == 204

    # Stopping the service gives its cards back: the job runs.
    alice.call("POST", "services/on-gpu/stop")
    assert alice.wait(job["id"])["status"] == "Succeeded"
    assert alice.get("services/on-gpu")["placement"] == []
    assert alice.call("DELETE", "services/on-gpu").status_code == 204


def wheel(directory: Path, name: str, version: str, module_text: str) -> Path:
    """A pure-Python wheel of one module, written by hand (the wheel format, PEP 427)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": module_text.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    out = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return out


def test_requirements_are_installed_for_the_service_alone(alice: Api, tmp_path: Path) -> None:
    """The requirements.txt lines are pip-installed into the run's own folder at start; pip
    reads its usual settings from the service's env (here a local folder instead of an index)."""
    wheel(tmp_path, "sxwl_hello_dep", "0.1", "GREETING = 'from a requirement'\n")
    app = "import os\nimport sxwl_hello_dep\nos.environ['GREETING'] = sxwl_hello_dep.GREETING\n"
    package = upload(alice, {"app.py": app + APP})
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path)}
    deploy(alice, "with-deps", package, requirements="sxwl_hello_dep==0.1\n", env=env)
    svc = wait_status(alice, "with-deps", "running", "failed", timeout=180)
    assert svc["status"] == "running", svc
    key = new_key(alice, "with-deps")
    r = requests.get(gateway(alice, "with-deps"), headers=bearer(key), timeout=30)
    assert r.json()["greeting"] == "from a requirement"
    # Installed for this service only, not into the platform's environment.
    assert importlib.util.find_spec("sxwl_hello_dep") is None
    assert alice.call("DELETE", "services/with-deps").status_code == 204

    # A requirement pip cannot find fails the start with pip's own words.
    deploy(alice, "missing-deps", package, requirements="sxwl_not_there==9\n", env=env)
    failed = wait_status(alice, "missing-deps", "failed", timeout=180)
    assert "sxwl_not_there" in failed["message"], failed
    assert alice.call("DELETE", "services/missing-deps").status_code == 204
