"""hub_config/: the embedded hub and platform configuration files, loaded as traitlets does."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

HUB_CONFIG_DIR = Path(__file__).resolve().parents[2] / "hub_config"


def load(name: str) -> Config:
    return PyFileConfigLoader(name, path=str(HUB_CONFIG_DIR)).load_config()


@pytest.fixture
def hub_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("SXWL_PLATFORM_ARGS", "SXWL_PLATFORM_LOG", "SXWL_TEST_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SXWL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SXWL_HUB_PORT", "9000")
    monkeypatch.setenv("SXWL_USER_PASSWORD", "user-password")
    monkeypatch.setenv("SXWL_ADMIN_PASSWORD", "a" * 32)
    return tmp_path / "state"


def test_hub_needs_both_passwords(hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SXWL_ADMIN_PASSWORD")
    with pytest.raises(SystemExit, match="SXWL_ADMIN_PASSWORD"):
        load("jupyterhub_config.py")


def test_hub_ports_state_and_platform_follow_the_environment(hub_env: Path) -> None:
    c = load("jupyterhub_config.py")
    assert c.JupyterHub.port == 9000
    assert c.JupyterHub.hub_port == 9081
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:9002"
    assert c.JupyterHub.db_url == f"sqlite:///{hub_env / 'jupyterhub.sqlite'}"
    [sxwl] = c.JupyterHub.services
    assert sxwl["url"] == "http://127.0.0.1:9001"
    assert sxwl["command"][1:4] == ["-m", "jupyter_sxwl.platform", "--config"]
    assert sxwl["environment"]["SXWL_STATE_DIR"] == str(hub_env)
    assert sxwl["oauth_no_confirm"] is True
    assert c.Spawner.environment["SXWL_PLATFORM_URL"] == "http://127.0.0.1:9000/services/sxwl/"


def test_lab_token_keeps_jupyterhub_defaults_and_adds_the_platform(hub_env: Path) -> None:
    c = load("jupyterhub_config.py")
    assert set(c.Spawner.server_token_scopes) == {
        "users:activity!user",
        "access:servers!server",
        "access:services!service=sxwl",
    }


def test_every_user_may_use_the_platform(hub_env: Path) -> None:
    c = load("jupyterhub_config.py")
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert set(roles["user"]["scopes"]) == {"self", "access:services!service=sxwl"}
    assert roles["sxwl-platform"]["services"] == ["sxwl"]
    assert "test-admin" not in roles, "the test-only admin exists only when asked for"


def test_platform_args_and_log_wrap_the_command(
    hub_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SXWL_PLATFORM_ARGS", "--SxwlPlatform.db_url='sqlite:///x y.db'")
    monkeypatch.setenv("SXWL_PLATFORM_LOG", str(hub_env / "platform.log"))
    [sxwl] = load("jupyterhub_config.py").JupyterHub.services
    assert sxwl["command"][0] == "/bin/sh"
    assert sxwl["command"][-1] == "--SxwlPlatform.db_url=sqlite:///x y.db"


def test_platform_catalogue_has_a_four_node_cpu_flavour(hub_env: Path) -> None:
    c = load("platform_config.py")
    cpu = c.SxwlPlatform.flavours[0]
    assert cpu["name"] == "cpu" and cpu["nodes"] == 4 and cpu["accelerators_per_node"] == 0
    assert c.SxwlPlatform.data_dir == str(hub_env / "platform")
    assert [q["name"] for q in c.SxwlPlatform.queues] == ["default"]


def test_platform_catalogue_lists_each_gpu_model_nvidia_smi_reports(
    hub_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'echo "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-1)"\n'
        'echo "GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-2)"\n'
        'echo "GPU 2: NVIDIA L40S (UUID: GPU-3)"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    flavours = {f["name"]: f for f in load("platform_config.py").SxwlPlatform.flavours}
    a100 = flavours["gpu-a100-sxm4-80gb"]
    assert a100["accelerators_per_node"] == 2
    assert a100["resource_name"] == "nvidia.com/gpu"
    assert a100["device_env"] == "CUDA_VISIBLE_DEVICES"
    assert a100["distributed_backend"] == "nccl"
    assert flavours["gpu-l40s"]["accelerators_per_node"] == 1
