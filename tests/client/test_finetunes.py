"""The fine-tune SDK, command line and widget where the point is the client's own logic: what
it sends, how it reads answers, how the curve is drawn. The tiny HTTP server stands in for the
platform; everything the platform decides is tested against the real one in
tests/client/test_finetunes_platform.py, tests/test_cli_finetune.py and
tests/test_magics_finetune.py."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from jupyter_sxwl import cli
from jupyter_sxwl.client import Client, SxwlAPIError, SxwlError
from jupyter_sxwl.client.finetunes import dataset_ref, read_yaml_arg, training_progress
from jupyter_sxwl.widgets import FinetuneView
from jupyter_sxwl.widgets.finetune_view import finetunes_html, loss_curve_svg

from .conftest import FakePlatform, Request, json_reply, problem

SPEC = "model_name_or_path: sxwl-tiny-llama\ndataset: alpaca_en_demo\nlearning_rate: 1.0e-4\n"


def client_for(fake_platform: FakePlatform) -> Client:
    return Client(url=fake_platform.url, token="t", timeout=5)


def test_dataset_refs_take_names_versions_tuples_and_dicts() -> None:
    assert dataset_ref("alpaca_zh_demo") == {"name": "alpaca_zh_demo"}
    assert dataset_ref("faq:2") == {"name": "faq", "version": 2}
    assert dataset_ref(("faq", 3)) == {"name": "faq", "version": 3}
    assert dataset_ref({"name": "faq", "version": None}) == {"name": "faq"}
    with pytest.raises(SxwlError, match="NAME:VERSION"):
        dataset_ref("faq:latest")


def test_yaml_is_read_from_a_path_or_taken_as_text(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    assert read_yaml_arg(path) == SPEC
    assert read_yaml_arg(str(path)) == SPEC
    assert read_yaml_arg(SPEC) == SPEC
    assert read_yaml_arg("not-there.yaml") == "not-there.yaml"  # the platform says it is bad


def test_create_sends_the_api_body_and_errors_name_the_field(
    fake_platform: FakePlatform, tmp_path: Path
) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    fake_platform.route(
        "POST", "finetunes", lambda r: json_reply({"id": "ft-1", **json.loads(r.body)}, 201)
    )
    client = client_for(fake_platform)
    ft = client.create_finetune(
        "demo",
        yaml=tmp_path / "spec.yaml",
        datasets=["alpaca_zh_demo:1", "faq"],
        params={"lora_rank": 16},
        learning_rate=2e-4,
        resources={"cpu_per_node": 2, "queue": None},
    )
    assert ft["id"] == "ft-1"
    body = json.loads(fake_platform.requests[-1].body)
    assert body == {
        "name": "demo",
        "yaml": SPEC,
        "datasets": [{"name": "alpaca_zh_demo", "version": 1}, {"name": "faq"}],
        "params": {"lora_rank": 16, "learning_rate": 2e-4},
        "resources": {"cpu_per_node": 2},
    }
    # No name: the model's name and the time.
    client.create_finetune(model="sxwl-tiny-llama", datasets="alpaca_en_demo")
    assert re.fullmatch(
        r"sxwl-tiny-llama-\d{4}-\d{6}", json.loads(fake_platform.requests[-1].body)["name"]
    )
    with pytest.raises(SxwlError, match=r"resources\.gpus"):
        client.create_finetune("x", yaml=SPEC, resources={"gpus": 1})
    with pytest.raises(SxwlError, match="give model and datasets"):
        client.create_finetune("x", model="sxwl-tiny-llama")

    fake_platform.route(
        "POST",
        "finetunes",
        problem(
            400,
            "the fine-tune spec is invalid",
            [{"field": "params.learning_rate", "message": "2.0 is out of range"}],
        ),
    )
    with pytest.raises(SxwlAPIError) as err:
        client.create_finetune("x", yaml=SPEC, learning_rate=2.0)
    assert err.value.status == 400
    assert err.value.errors == [{"field": "params.learning_rate", "message": "2.0 is out of range"}]
    assert "params.learning_rate: 2.0 is out of range" in cli.format_error(err.value)


def test_wait_reports_steps_and_metrics_page_through(fake_platform: FakePlatform) -> None:
    states = iter(["Queued", "Running", "Running", "Succeeded"])
    status = {"status": "Queued"}

    def get(r: Request) -> tuple[int, dict[str, str], bytes]:
        status["status"] = next(states, "Succeeded")
        step = {"Queued": 0, "Running": 5, "Succeeded": 10}[status["status"]]
        progress = {"step": step, "total_steps": 10, "loss": 1.0} if step else None
        return json_reply({"id": "ft-1", "name": "d", **status, "progress": progress})

    fake_platform.route("GET", "finetunes/ft-1", get)
    seen = []
    ft = client_for(fake_platform).wait_finetune("ft-1", progress=seen.append, poll=0.01)
    assert ft["status"] == "Succeeded"
    assert [p.phase for p in seen] == ["queued", "training", "training", "done"]
    assert (seen[1].done, seen[1].total, seen[1].unit) == (5, 10, "steps")
    assert training_progress({"status": "Stopping"}).phase == "stopping"

    def metrics(r: Request) -> tuple[int, dict[str, str], bytes]:
        after = int(r.query.get("after", 0))
        page = [{"kind": "train", "step": s, "loss": 1 / s} for s in range(after + 1, 8)][:3]
        return json_reply({"points": page, "progress": page[-1] if page else None})

    fake_platform.route("GET", "finetunes/ft-1/metrics", metrics)
    points = client_for(fake_platform).finetune_points("ft-1", after=1)
    assert [p["step"] for p in points] == [2, 3, 4, 5, 6, 7]


def test_command_line_options_become_the_spec(tmp_path: Path) -> None:
    (tmp_path / "my spec.yaml").write_text(SPEC)
    args = cli.parse_args(
        ["finetune", "create", "-f", str(tmp_path / "my spec.yaml"), "--model", "base:2",
         "--dataset", "faq", "--dataset", "more:3", "--set", "lora_rank=16",
         "--set", "learning_rate=1e-4", "--set", "packing=true", "--set", "template=qwen",
         "--set", "max_samples=null", "--cpu", "2", "--nodes", "1"]
    )  # fmt: skip
    spec = cli.finetune_spec(args)
    assert spec == {
        "name": "my-spec",
        "model": "base",
        "model_version": 2,
        "datasets": [{"name": "faq"}, {"name": "more", "version": 3}],
        "params": {
            "lora_rank": 16,
            "learning_rate": 1e-4,
            "packing": True,
            "template": "qwen",
            "max_samples": None,
        },
        "yaml": SPEC,
        "resources": {"nodes": 1, "cpu_per_node": 2.0},
    }
    with pytest.raises(cli.CommandError, match=r"-f spec\.yaml"):
        cli.finetune_spec(cli.parse_args(["finetune", "create", "--name", "x"]))
    with pytest.raises(SystemExit):
        cli.parse_args(["finetune", "create", "--set", "no-equals-sign"])


def test_metric_lines_and_scores_read_well() -> None:
    point = {"kind": "train", "step": 12, "total_steps": 40, "epoch": 0.9, "loss": 1.23456,
             "learning_rate": 4.5e-4, "tokens_per_second": 1234.5, "memory_mb": 512,
             "eta_seconds": 65}  # fmt: skip
    line = cli.metric_line(point)
    assert line == (
        "step 12/40 (30%)  epoch 0.90  loss 1.2346  lr 4.50e-04  1,234 tokens/s  512 MB  ETA 1m05s"
    )
    assert cli.metric_line({"kind": "eval", "step": 20, "eval_loss": 1.5}) == (
        "step 20: eval_loss 1.5000"
    )
    done = cli.metric_line({"kind": "done", "step": 40, "train_loss": 1.1, "train_runtime": 30})
    assert done.startswith("done after 40 steps: train_loss 1.1000, 30s")
    scores = {"rouge-1": 41.2, "rouge-2": 20.05, "rouge-l": 35.1, "bleu-4": 18.31, "samples": 24}
    assert cli.format_scores(scores) == (
        "ROUGE-1 41.20  ROUGE-2 20.05  ROUGE-L 35.10  BLEU-4 18.31  (24 samples)"
    )


def test_loss_curve_is_an_svg_line_with_eval_dots() -> None:
    assert "first step" in loss_curve_svg([])
    svg = loss_curve_svg([(1, 2.0), (2, 1.5), (3, 1.2)], [(2, 1.6)], total_steps=10)
    coords = re.search(r'class="train-loss" points="([^"]+)"', svg)
    assert coords and len(coords.group(1).split()) == 3
    assert svg.count('class="eval-loss"') == 1 and "step 10" in svg
    xs = [float(c.split(",")[0]) for c in coords.group(1).split()]
    assert xs == sorted(xs) and xs[-1] < 520 * 0.4  # step 3 of 10: early on the axis
    many = loss_curve_svg([(s, 1.0 / s) for s in range(1, 5001)])
    drawn = re.search(r'class="train-loss" points="([^"]+)"', many)
    assert drawn and len(drawn.group(1).split()) == 1000
    assert "nan" not in loss_curve_svg([(1, float("nan")), (2, 1.0)]).lower()


def test_finetune_view_follows_the_metrics_until_the_end(fake_platform: FakePlatform) -> None:
    steps = iter([2, 4, 6, 6])
    state: dict[str, object] = {"step": 0}

    def get(r: Request) -> tuple[int, dict[str, str], bytes]:
        state["step"] = next(steps, 6)
        status = "Succeeded" if state["step"] == 6 else "Running"
        extra = {"evaluations": [], "exports": []}
        if status == "Succeeded":
            extra["evaluations"] = [{"id": "ev-1", "status": "succeeded",
                                     "scores": {"rouge-1": 10.0, "bleu-4": 5.0}}]  # fmt: skip
        return json_reply({"id": "ft-1", "name": "<b>demo</b>", "status": status,
                           "method": "LoRA", "model": {"name": "tiny", "version": 1},
                           "progress": None, **extra})  # fmt: skip

    def metrics(r: Request) -> tuple[int, dict[str, str], bytes]:
        after = int(r.query.get("after", 0))
        page = [
            {"kind": "train", "step": s, "total_steps": 6, "epoch": s / 6, "loss": 3.0 / s,
             "learning_rate": 1e-4, "tokens_per_second": 100.0, "memory_mb": 300.0,
             "eta_seconds": 6 - s}
            for s in range(after + 1, int(str(state["step"])) + 1)
        ]  # fmt: skip
        if state["step"] == 6 and after < 6:
            page.append({"kind": "done", "step": 6, "train_loss": 1.0, "peak_memory_mb": 310})
        return json_reply({"points": page, "progress": None})

    fake_platform.route("GET", "finetunes/ft-1", get)
    fake_platform.route("GET", "finetunes/ft-1/metrics", metrics)
    view = FinetuneView(client_for(fake_platform), "ft-1", interval=0.02)
    final = view.wait(timeout=10)
    assert final["status"] == "Succeeded"
    assert sorted(view.train) == [1, 2, 3, 4, 5, 6] and view.done is not None
    afters = [r.query.get("after") for r in fake_platform.requests if r.path.endswith("metrics")]
    assert afters[0] is None and "3" in afters  # only new points (and the last step again)
    assert (view.bar.value, view.bar.max, view.bar.bar_style) == (6, 6, "success")
    assert "step 6/6 (100%)" in view.stats.value and "loss 0.5000" in view.stats.value
    assert "&lt;b&gt;demo" in view.title.value
    assert 'class="train-loss"' in view.curve.value
    assert "ROUGE-1 10.00" in view.extra.value and "trained 6 steps" in view.extra.value
    seen = len(fake_platform.requests)
    time.sleep(0.1)
    assert len(fake_platform.requests) == seen  # it stopped polling


def test_finetunes_table_html_escapes() -> None:
    page = finetunes_html([{"id": "ft-1", "name": "<script>", "status": "Running",
                            "progress": {"step": 3, "total_steps": 9, "loss": 1.5}}])  # fmt: skip
    assert "<script>" not in page and "&lt;script&gt;" in page and "3/9" in page
    assert "No fine-tunes yet" in finetunes_html([])


def test_following_yields_each_point_once_and_the_late_done_point(
    fake_platform: FakePlatform,
) -> None:
    polls = iter(["Running", "Running", "Succeeded"])
    written: list[dict[str, object]] = [{"kind": "train", "step": 1}, {"kind": "train", "step": 2}]
    late = [{"kind": "eval", "step": 2, "eval_loss": 1.0}, {"kind": "done", "step": 2}]

    def get(r: Request) -> tuple[int, dict[str, str], bytes]:
        status = next(polls, "Succeeded")
        if status == "Succeeded" and late:
            written.extend(late)  # written after the train point of the same step
            late.clear()
        return json_reply({"id": "ft-1", "status": status})

    def metrics(r: Request) -> tuple[int, dict[str, str], bytes]:
        after = int(r.query.get("after", -1))
        return json_reply({"points": [p for p in written if int(str(p["step"])) > after]})

    fake_platform.route("GET", "finetunes/ft-1", get)
    fake_platform.route("GET", "finetunes/ft-1/metrics", metrics)
    got = list(client_for(fake_platform).follow_finetune_metrics("ft-1", poll=0.01))
    assert [(p["kind"], p["step"]) for p in got] == [
        ("train", 1), ("train", 2), ("eval", 2), ("done", 2)
    ]  # fmt: skip
    after_one = client_for(fake_platform).follow_finetune_metrics("ft-1", after=1, poll=0.01)
    assert [(p["kind"], p["step"]) for p in after_one] == [("train", 2), ("eval", 2), ("done", 2)]
