"""Services in the SDK: deploy a model version (or a base and an adapter) as an OpenAI-compatible
LLM service, or any HTTP app; manage it (update, stop, start, restart, delete, events,
revisions, logs); make and revoke its keys; and call it through the platform's gateway.

Every service is reached at ``<platform>/endpoints/<service>/``. A key is a bearer token
(``Authorization: Bearer …``, what OpenAI clients send) and an AppKey/AppSecret pair for
signed requests (headers ``AppKey``, ``Timestamp``, ``Sign``; see :func:`sign`). Secrets are
shown once, when the key is made.

``svc`` is a service's id (``svc-…``) or its name. Answers are the API's dicts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .errors import SxwlAPIError, SxwlConnectionError, SxwlError, SxwlTimeoutError
from .uploads import UploadsAPI

if TYPE_CHECKING:
    import requests

    from .connection import Connection

# A service in one of these serves requests (a sleeping one wakes on the next request).
SERVING_STATUSES = frozenset({"running", "sleeping", "waking"})
# A service in one of these will not change by itself.
SETTLED_STATUSES = frozenset({"running", "sleeping", "stopped", "failed"})
SERVICE_STATUSES = ("starting", "running", "sleeping", "waking", "stopped", "failed", "deleting")
# Resource fields of a service, as the API names them.
SERVICE_RESOURCE_FIELDS = ("flavour", "queue", "cpu", "memory_gb", "accelerators", "replicas")

ChatMessages = str | Sequence[Mapping[str, Any]]


def _q(value: str | int) -> str:
    return quote(str(value), safe="")


def model_ref(spec: str | Mapping[str, Any] | None, version: int | None = None) -> dict | None:
    """``"sxwl-tiny-llama"``, ``"sxwl-tiny-llama:2"`` or ``{"name", "version"}`` -> the API's
    ``{"name", "version"?}`` (no version: the latest ready one)."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        ref: dict[str, Any] = {"name": str(spec.get("name") or "")}
        if spec.get("version") is not None:
            ref["version"] = int(spec["version"])
    else:
        head, sep, tail = str(spec).rpartition(":")
        if sep and tail.isdigit() and head:
            ref = {"name": head, "version": int(tail)}
        else:
            ref = {"name": str(spec)}
    if version is not None:
        ref["version"] = int(version)
    return ref


def sign(app_key: str, app_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers of a signed request: ``AppKey``, ``Timestamp`` (Unix milliseconds) and
    ``Sign``, the lowercase hex HMAC-SHA1 keyed by the AppSecret over AppKey + AppSecret +
    Timestamp. A Sign is good for five minutes and once only: sign each request anew."""
    stamp = str(int(time.time() * 1000) if timestamp is None else int(timestamp))
    digest = hmac.new(
        app_secret.encode("utf-8"), (app_key + app_secret + stamp).encode("utf-8"), hashlib.sha1
    ).hexdigest()
    return {"AppKey": app_key, "Timestamp": stamp, "Sign": digest}


def keys_path(env: Mapping[str, str] | None = None) -> Path:
    """Where ``sxwl chat`` keeps the keys it made for itself (next to ``sxwl login``'s file)."""
    from .connection import config_path

    return config_path(env).with_name("keys.json")


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Lines of a byte stream as soon as each is complete (``iter_lines`` waits for a buffer
    to fill, which holds back the first words of an answer)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


def iter_sse(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON events of a server-sent event stream (``data: {...}`` lines), until
    ``data: [DONE]``. An ``error`` event raises SxwlError with its message."""
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
            continue
        if line or not data:
            continue
        text, data = "\n".join(data), []
        if text == "[DONE]":
            return
        event = json.loads(text)
        if isinstance(event, dict) and event.get("error"):
            err = event["error"]
            raise SxwlError(str(err.get("message") if isinstance(err, dict) else err))
        yield event
    if data and "\n".join(data) != "[DONE]":
        yield json.loads("\n".join(data))


def endpoint_error(status: int, reason: str, content_type: str, text: str) -> SxwlAPIError:
    """The error of a gateway or model server answer: an OpenAI-style ``{"error": {"message",
    "param"}}`` (the model server) or problem+json (the gateway)."""
    error = SxwlAPIError.from_response(status, reason, content_type, text)
    body = error.body.get("error") if isinstance(error.body, dict) else None
    if isinstance(body, dict) and body.get("message"):
        param = body.get("param")
        message = str(body["message"])
        error.detail = f"{param}: {message}" if param and not message.startswith(param) else message
        error.args = (error.detail,)
        if param:
            error.errors = [{"field": str(param), "message": message}]
    elif isinstance(body, str) and body:
        error.detail = body
        error.args = (body,)
    return error


class ChatStream:
    """The answer of a streamed chat: iterate to get the text as it comes; ``text`` and
    ``usage`` (``prompt_tokens``, ``completion_tokens``) are filled once it ended."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.text = ""
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None

    def __iter__(self) -> Iterator[str]:
        import requests

        try:
            with self.response:
                for event in iter_sse(_lines(self.response.iter_content(chunk_size=None))):
                    if event.get("usage"):
                        self.usage = dict(event["usage"])
                    for choice in event.get("choices") or []:
                        if choice.get("finish_reason"):
                            self.finish_reason = str(choice["finish_reason"])
                        delta = choice.get("delta") or {}
                        piece = delta.get("content") or choice.get("text") or ""
                        if piece:
                            self.text += piece
                            yield piece
        except requests.RequestException as e:
            raise SxwlConnectionError(f"the stream of answers broke off: {e}") from e


class ServicesAPI(UploadsAPI):
    """The services part of :class:`~jupyter_sxwl.client.Client` (a mixin)."""

    if TYPE_CHECKING:  # the Client's own parts used here
        connection: Connection

        def upload_code(
            self, code_dir: str | os.PathLike[str], name: str | None = None
        ) -> dict[str, Any]: ...

    # -- services --------------------------------------------------------------------------

    def deploy(
        self,
        name: str,
        model: str | Mapping[str, Any] | None = None,
        *,
        model_version: int | None = None,
        adapter: str | Mapping[str, Any] | None = None,
        kind: str | None = None,
        image: str | None = None,
        code_dir: str | os.PathLike[str] | None = None,
        code_package: str | None = None,
        requirements: str | Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        command: str | None = None,
        port: int | None = None,
        resources: Mapping[str, Any] | None = None,
        sleep_after_minutes: int | None = None,
        https: Mapping[str, str] | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Deploy a service; returns it (status ``starting``), or with ``wait`` once it runs.

        An LLM service (``kind="llm"``, the default when a ``model`` is given) serves a model
        version of the repository (``"sxwl-tiny-llama"``, ``"name:2"``) with the OpenAI HTTP
        API, optionally with a LoRA ``adapter`` (another model version) on top. A custom
        service (``kind="custom"``) runs ``command`` in ``image`` with a ``code_package``
        (or ``code_dir``, uploaded first), ``requirements`` (requirements.txt lines), ``env``,
        and listens on ``port`` (it gets ``$SXWL_PORT``).

        ``resources``: ``flavour``, ``queue``, ``cpu``, ``memory_gb``, ``accelerators``,
        ``replicas``.
        ``sleep_after_minutes`` puts it to sleep after that long without a request (the next
        request wakes it). ``https`` (``domain``, ``certificate``, ``private_key``, PEM text)
        is checked and kept for the cluster mode.
        """
        kind = kind or ("llm" if model is not None else "custom")
        body: dict[str, Any] = {"name": name, "kind": kind}
        if model is not None:
            body["model"] = model_ref(model, model_version)
        if adapter is not None:
            body["adapter"] = model_ref(adapter)
        if resources:
            unknown = sorted(set(resources) - set(SERVICE_RESOURCE_FIELDS))
            if unknown:
                raise SxwlError(
                    f"resources.{unknown[0]}: not a resource field; use "
                    + ", ".join(SERVICE_RESOURCE_FIELDS)
                )
            body["resources"] = {k: v for k, v in resources.items() if v is not None}
        if kind == "llm" and "model" not in body:
            raise SxwlError("model: an LLM service needs a model, e.g. model='sxwl-tiny-llama'")
        if code_dir is not None:
            if code_package:
                raise SxwlError("give either code_dir or code_package, not both")
            code_package = str(self.upload_code(code_dir)["id"])
        if requirements is not None and not isinstance(requirements, str):
            requirements = "\n".join(str(r) for r in requirements)
        optional = {
            "image": image,
            "code_package": code_package,
            "requirements": requirements,
            "env": dict(env) if env else None,
            "command": command,
            "port": port,
            "sleep_after_minutes": sleep_after_minutes,
            "https": dict(https) if https else None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        service = dict(self._request("POST", "services", json=body).json())
        if wait:
            return self.wait_service(str(service["id"]), timeout=timeout)
        return service

    def services(self) -> list[dict[str, Any]]:
        """Your services: status, address, model, usage (``requests``)."""
        return list(self._get("services")["items"])

    def _service_id(self, svc: str) -> str:
        """``svc`` as the API takes it: the platform resolves an id or one of your names."""
        return svc

    def service(self, svc: str) -> dict[str, Any]:
        """One service: status, address, model (and adapter), revision, resources, sleep
        policy, requests served, message (why it failed)."""
        return dict(self._get(f"services/{_q(self._service_id(svc))}"))

    def update_service(self, svc: str, **fields: Any) -> dict[str, Any]:
        """Change a service (a new revision): ``model`` (``"name:3"`` to move to another
        version), ``adapter``, ``resources``, ``sleep_after_minutes``, ``env``, ``command``…
        A running service keeps answering with the old revision until the new one is ready."""
        body: dict[str, Any] = {}
        for key, value in fields.items():
            if key in ("model", "adapter") and value is not None:
                body[key] = model_ref(value)
            else:
                body[key] = value
        path = f"services/{_q(self._service_id(svc))}"
        return dict(self._request("PATCH", path, json=body).json())

    def stop_service(self, svc: str) -> dict[str, Any]:
        """Stop a service (it keeps its configuration and keys; ``start_service`` again)."""
        return dict(self._post(f"services/{_q(self._service_id(svc))}/stop"))

    def sleep_service(self, svc: str) -> dict[str, Any]:
        """Put a running service to sleep now: its process stops and it costs nothing; the
        next request through the gateway wakes it."""
        return dict(self._post(f"services/{_q(self._service_id(svc))}/sleep"))

    def start_service(self, svc: str) -> dict[str, Any]:
        """Start a stopped (or failed) service again."""
        return dict(self._post(f"services/{_q(self._service_id(svc))}/start"))

    def restart_service(self, svc: str) -> dict[str, Any]:
        """Restart a service's process."""
        return dict(self._post(f"services/{_q(self._service_id(svc))}/restart"))

    def delete_service(self, svc: str) -> None:
        """Delete a service, stopping it first; its keys stop working."""
        self._request("DELETE", f"services/{_q(self._service_id(svc))}")

    def wait_service(
        self,
        svc: str,
        status: str | Sequence[str] = "running",
        timeout: float | None = None,
        poll: float = 0.5,
    ) -> dict[str, Any]:
        """Poll until the service reaches ``status`` (one or several) and return it. Raises
        SxwlError when it failed instead, SxwlTimeoutError after ``timeout`` seconds."""
        wanted = {status} if isinstance(status, str) else set(status)
        sid = self._service_id(svc)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            service = self.service(sid)
            state = service.get("status")
            if state in wanted:
                return service
            if state == "failed":
                raise SxwlError(
                    f"service {service.get('name')} failed: "
                    f"{service.get('message') or 'no reason given'}"
                )
            if deadline is not None and time.monotonic() >= deadline:
                raise SxwlTimeoutError(
                    f"service {service.get('name')} is still {state} after {timeout:g} s"
                )
            time.sleep(poll)

    # -- what happened ---------------------------------------------------------------------

    def service_events(self, svc: str) -> list[dict[str, Any]]:
        """The run records: started, ready, stopped, sleeping, woken, failed, updated."""
        return list(self._get(f"services/{_q(self._service_id(svc))}/events")["items"])

    def service_revisions(self, svc: str) -> list[dict[str, Any]]:
        """The configuration history, each revision with what changed from the one before."""
        return list(self._get(f"services/{_q(self._service_id(svc))}/revisions")["items"])

    def service_logs(self, svc: str, offset: int = 0) -> tuple[str, int]:
        """The service's log from byte ``offset`` on: ``(text, next_offset)``."""
        response = self._request(
            "GET",
            f"services/{_q(self._service_id(svc))}/logs",
            params={"offset": offset or None},
        )
        data = response.content
        next_offset = int(response.headers.get("X-Log-Offset", offset + len(data)))
        return data.decode("utf-8", errors="replace"), next_offset

    # -- keys ------------------------------------------------------------------------------

    def create_service_key(self, svc: str, name: str | None = None) -> dict[str, Any]:
        """A new key of the service: ``{"id", "app_key", "app_secret", "bearer",
        "created_at"}``. The secret and the bearer key are shown this once: keep them."""
        body = {"name": name} if name else {}
        return dict(self._post(f"services/{_q(self._service_id(svc))}/keys", body))

    def service_keys(self, svc: str) -> list[dict[str, Any]]:
        """The service's keys (no secrets), with the requests made with each."""
        return list(self._get(f"services/{_q(self._service_id(svc))}/keys")["items"])

    def revoke_service_key(self, svc: str, key_id: str) -> None:
        """Revoke a key: requests carrying it are refused from now on."""
        self._request("DELETE", f"services/{_q(self._service_id(svc))}/keys/{_q(key_id)}")

    # -- calling a service -----------------------------------------------------------------

    def endpoint_url(self, svc: str | Mapping[str, Any]) -> str:
        """The gateway address of a service, ``<platform>/endpoints/<name>/``; an OpenAI
        client's ``base_url`` is this plus ``v1``."""
        service = svc if isinstance(svc, Mapping) else None
        name = str(service.get("name")) if service else str(svc)
        if service is None and name.startswith("svc-"):
            name = str(self.service(name)["name"])
        address = str((service or {}).get("address") or "")
        if address.startswith(("http://", "https://")):
            return address if address.endswith("/") else address + "/"
        root = self.connection.url.removesuffix("api/v1/")
        return f"{root}endpoints/{_q(name)}/"

    def _stored_key(self, sid: str) -> str | None:
        try:
            keys = json.loads(keys_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        entry = keys.get(f"{self.connection.url} {sid}") if isinstance(keys, dict) else None
        return str(entry) if entry else None

    def _store_key(self, sid: str, bearer: str) -> None:
        path = keys_path()
        try:
            keys = json.loads(path.read_text(encoding="utf-8"))
            keys = keys if isinstance(keys, dict) else {}
        except (OSError, ValueError):
            keys = {}
        keys[f"{self.connection.url} {sid}"] = bearer
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(keys, f, indent=1)

    def chat_key(self, svc: str, renew: bool = False) -> str:
        """A bearer key for chatting with ``svc`` from here: the one made for that earlier
        (kept, readable by you only, next to ``sxwl login``'s file), or a new one named
        ``sxwl chat``."""
        sid = self._service_id(svc)
        if not renew:
            stored = self._stored_key(sid)
            if stored:
                return stored
        bearer = str(self.create_service_key(sid, name="sxwl chat")["bearer"])
        self._store_key(sid, bearer)
        return bearer

    def _endpoint(
        self,
        svc: str,
        method: str,
        path: str,
        key: str | None,
        body: Any = None,
        stream: bool = False,
    ) -> requests.Response:
        import requests

        service = self.service(svc)
        url = self.endpoint_url(service) + path.lstrip("/")
        mine = key is None
        bearer = key or self.chat_key(str(service["id"]))
        for attempt in (0, 1):
            try:
                response = requests.request(
                    method,
                    url,
                    json=body,
                    headers={"Authorization": f"Bearer {bearer}"},
                    stream=stream,
                    # A sleeping service is woken first: give the answer time to come.
                    timeout=(self.timeout[0], max(self.timeout[1], 300.0)),
                    allow_redirects=False,
                )
            except requests.RequestException as e:
                raise SxwlConnectionError(f"cannot reach {url}: {e}") from e
            if response.status_code == 401 and mine and attempt == 0:
                response.close()  # the kept key was revoked: make a new one, once
                bearer = self.chat_key(str(service["id"]), renew=True)
                continue
            break
        if response.status_code >= 300:
            error = endpoint_error(
                response.status_code,
                response.reason or "",
                response.headers.get("Content-Type", ""),
                response.text,
            )
            response.close()
            raise error
        return response

    def served_models(self, svc: str, key: str | None = None) -> list[str]:
        """The model names the service answers to (its ``GET /v1/models``)."""
        data = self._endpoint(svc, "GET", "v1/models", key).json()
        return [str(m.get("id")) for m in data.get("data") or []]

    def chat(
        self,
        svc: str,
        messages: ChatMessages,
        *,
        key: str | None = None,
        stream: bool = False,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        **options: Any,
    ) -> Any:
        """Ask an LLM service through the gateway (``POST /v1/chat/completions``).

        ``messages`` is a prompt (one user message) or OpenAI chat messages. ``key`` is a
        bearer key of the service; by default one made for this (see :meth:`chat_key`).
        Returns the answer's text, or with ``stream`` a :class:`ChatStream` that yields the
        text as it is generated.
        """
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        body: dict[str, Any] = {"messages": [dict(m) for m in messages], **options}
        body["model"] = model or self._model_name(svc, key)
        if max_tokens is not None:
            body["max_tokens"] = int(max_tokens)
        if temperature is not None:
            body["temperature"] = float(temperature)
        if stream:
            body["stream"] = True
            response = self._endpoint(svc, "POST", "v1/chat/completions", key, body, stream=True)
            return ChatStream(response)
        answer = self._endpoint(svc, "POST", "v1/chat/completions", key, body).json()
        choices = answer.get("choices") or [{}]
        return str((choices[0].get("message") or {}).get("content") or "")

    def _model_name(self, svc: str, key: str | None) -> str:
        # The platform serves an LLM under its service's name.
        return str(self.service(svc)["name"])
