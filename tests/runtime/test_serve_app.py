"""The model server's HTTP app before its model is loaded: health says so, generation waits."""

from __future__ import annotations

import json
from pathlib import Path

from tornado.testing import AsyncHTTPTestCase
from tornado.web import Application

from jupyter_sxwl.runtime.serve.app import ServerState, make_app
from jupyter_sxwl.runtime.serve.config import ServeConfig


class LoadingServerTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        config = ServeConfig(
            model_dir=Path("models/m"),
            adapter_dir=None,
            served_model_name="m",
            host="127.0.0.1",
            port=0,
            max_batch_size=8,
            max_new_tokens=16,
            template=None,
        )
        return make_app(ServerState(config))

    def test_health_is_503_while_loading(self) -> None:
        response = self.fetch("/health", raise_error=False)
        assert response.code == 503
        assert json.loads(response.body) == {"status": "loading"}

    def test_generation_is_refused_with_an_openai_error_while_loading(self) -> None:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        response = self.fetch("/v1/chat/completions", method="POST", body=body, raise_error=False)
        assert response.code == 503
        error = json.loads(response.body)["error"]
        assert error["code"] == "model_loading" and "loading" in error["message"]

    def test_models_are_listed_while_loading(self) -> None:
        response = self.fetch("/v1/models")
        assert [m["id"] for m in json.loads(response.body)["data"]] == ["m"]

    def test_a_wrong_method_is_a_json_405(self) -> None:
        response = self.fetch("/health", method="POST", body="{}", raise_error=False)
        assert response.code == 405
        assert json.loads(response.body)["error"]["type"] == "invalid_request_error"
