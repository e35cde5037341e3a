"""OpenAI request and response shapes: parsing a request body into what the engine needs,
refusing what is malformed or unsupported with an OpenAI-style 400, and building answers.

Pure functions over JSON values; nothing here imports torch.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .errors import RequestError

ROLES = ("system", "developer", "user", "assistant")
MAX_STOP = 4


@dataclass
class SamplingParams:
    """How one request samples: ``max_tokens`` None means "as many as the cap allows"."""

    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    # vLLM's extension: keep writing past the end-of-sequence token (benchmarks, tests).
    ignore_eos: bool = False


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    sampling: SamplingParams
    stream: bool = False


@dataclass
class CompletionRequest:
    model: str
    prompt: str | list[int]
    sampling: SamplingParams
    stream: bool = False


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RequestError(
            f"the request body is not valid JSON: {e}", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise RequestError("the request body must be a JSON object", code="invalid_json")
    return data


def _number(data: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{name} must be a number", param=name, code="invalid_type")
    if not low <= value <= high:
        raise RequestError(
            f"{name} must be between {low:g} and {high:g}, got {value}",
            param=name,
            code="invalid_value",
        )
    return float(value)


def _refuse_unsupported(data: dict[str, Any]) -> None:
    n = data.get("n")
    if n is not None and n != 1:
        raise RequestError(
            f"n={n} is not supported: this server writes one choice per request; send n=1 "
            "or several requests",
            param="n",
            code="unsupported_value",
        )
    best_of = data.get("best_of")
    if best_of is not None and best_of != 1:
        raise RequestError("best_of is not supported", param="best_of", code="unsupported_value")
    for name in ("logprobs", "top_logprobs", "echo", "suffix", "tools", "functions"):
        if data.get(name) not in (None, False, [], ""):
            raise RequestError(
                f"{name} is not supported by this server", param=name, code="unsupported_value"
            )


def parse_sampling(data: dict[str, Any], cap: int) -> SamplingParams:
    """The sampling settings of a chat or completion request; ``cap`` bounds max_tokens."""
    _refuse_unsupported(data)
    max_tokens = None
    for name in ("max_completion_tokens", "max_tokens"):
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(f"{name} must be an integer", param=name, code="invalid_type")
        if not 1 <= value <= cap:
            raise RequestError(
                f"{name} must be between 1 and {cap} (this server's cap), got {value}",
                param=name,
                code="invalid_value",
            )
        max_tokens = value
    temperature = _number(data, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(data, "top_p", 1.0, 0.0, 1.0)
    if top_p == 0.0:
        raise RequestError("top_p must be greater than 0", param="top_p", code="invalid_value")
    stop_value = data.get("stop")
    if stop_value is None:
        stop: list[str] = []
    elif isinstance(stop_value, str):
        stop = [stop_value]
    elif isinstance(stop_value, list) and all(isinstance(s, str) for s in stop_value):
        stop = list(stop_value)
    else:
        raise RequestError(
            "stop must be a string or a list of strings", param="stop", code="invalid_type"
        )
    if len(stop) > MAX_STOP or any(not s for s in stop):
        raise RequestError(
            f"stop takes at most {MAX_STOP} non-empty strings", param="stop", code="invalid_value"
        )
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise RequestError("seed must be an integer", param="seed", code="invalid_type")
    ignore_eos = data.get("ignore_eos", False)
    if not isinstance(ignore_eos, bool):
        raise RequestError("ignore_eos must be a boolean", param="ignore_eos", code="invalid_type")
    return SamplingParams(max_tokens, temperature, top_p, stop, seed, ignore_eos)


def _model(data: dict[str, Any], served: str) -> str:
    model = data.get("model")
    if model is None:
        raise RequestError(
            f"model is missing: this server serves {served!r}",
            param="model",
            code="missing_required_parameter",
        )
    if model != served:
        raise RequestError(
            f"the model {model!r} does not exist here: this server serves {served!r}",
            param="model",
            code="model_not_found",
        )
    return served


def _stream(data: dict[str, Any]) -> bool:
    stream = data.get("stream", False)
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise RequestError("stream must be a boolean", param="stream", code="invalid_type")
    return stream


def _content(message: dict[str, Any], i: int) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise RequestError(
                    f"messages[{i}].content: only text parts are supported",
                    param=f"messages[{i}].content",
                    code="unsupported_value",
                )
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise RequestError(
        f"messages[{i}].content must be a string or a list of text parts",
        param=f"messages[{i}].content",
        code="invalid_type",
    )


def parse_messages(value: Any) -> list[dict[str, str]]:
    """Messages as the templates take them: a system message only first, then user and
    assistant turns, the last one the user's."""
    if value is None:
        raise RequestError(
            "messages is missing: send a list of {role, content} objects",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(value, list) or not value:
        raise RequestError(
            "messages must be a non-empty list", param="messages", code="invalid_value"
        )
    messages = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise RequestError(
                f"messages[{i}] must be an object", param=f"messages[{i}]", code="invalid_type"
            )
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(
                f"messages[{i}].role must be one of system, user, assistant; got {role!r}",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        if role == "developer":
            role = "system"
        if role == "system" and i != 0:
            raise RequestError(
                f"messages[{i}]: a system message may only come first",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        messages.append({"role": role, "content": _content(message, i)})
    if messages[-1]["role"] != "user":
        raise RequestError(
            "the last message must be the user's: the model answers it",
            param=f"messages[{len(messages) - 1}].role",
            code="invalid_value",
        )
    return messages


def parse_chat(data: dict[str, Any], served: str, cap: int) -> ChatRequest:
    model = _model(data, served)
    messages = parse_messages(data.get("messages"))
    return ChatRequest(model, messages, parse_sampling(data, cap), _stream(data))


def parse_completion(data: dict[str, Any], served: str, cap: int) -> CompletionRequest:
    model = _model(data, served)
    prompt = data.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    ok = isinstance(prompt, str) or (
        isinstance(prompt, list)
        and prompt
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in prompt)
    )
    if prompt is None:
        raise RequestError("prompt is missing", param="prompt", code="missing_required_parameter")
    if not ok:
        raise RequestError(
            "prompt must be a string (or a list of token ids); several prompts per request "
            "are not supported",
            param="prompt",
            code="invalid_value",
        )
    assert isinstance(prompt, str | list)
    return CompletionRequest(model, prompt, parse_sampling(data, cap), _stream(data))


# Answers


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_completion(
    rid: str, model: str, text: str, finish: str, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def chat_chunk(
    rid: str,
    model: str,
    delta: dict[str, str],
    finish: str | None = None,
    usage_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    if usage_counts is not None:
        chunk["usage"] = usage_counts
    return chunk


def completion(
    rid: str,
    model: str,
    text: str,
    finish: str | None,
    usage_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A text completion, or (``finish`` None, no usage) one chunk of a streamed one."""
    answer: dict[str, Any] = {
        "id": rid,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
    }
    if usage_counts is not None:
        answer["usage"] = usage_counts
    return answer


def models_list(model: str, created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": created, "owned_by": "jupyter_sxwl"}],
    }
