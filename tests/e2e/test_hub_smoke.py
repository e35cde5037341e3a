"""The embedded hub: people log in with the shared passwords, the platform is its service."""

from __future__ import annotations

import re
import time

import requests

from tests.support import Hub


def login(hub: Hub, username: str, password: str) -> tuple[requests.Session, requests.Response]:
    """Log in through the hub's HTML form, as a browser does (with the form's _xsrf token)."""
    session = requests.Session()
    page = session.get(f"{hub.url}/hub/login", timeout=30)
    page.raise_for_status()
    match = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert match, "the login form carries an _xsrf token"
    response = session.post(
        f"{hub.url}/hub/login",
        data={"username": username, "password": password, "_xsrf": match.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    return session, response


def test_ordinary_user_logs_in_with_the_shared_password(hub: Hub) -> None:
    session, response = login(hub, "alice", hub.user_password)
    assert response.status_code == 302, response.text[:500]

    # The hub's home page (not the lab, so this test spawns nothing) greets the user.
    home = session.get(f"{hub.url}/hub/home", timeout=30)
    assert home.status_code == 200
    assert "alice" in home.text

    me = session.get(
        f"{hub.api_url}/user",
        headers={"X-XSRFToken": session.cookies.get("_xsrf", "")},
        timeout=30,
    )
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "alice"
    assert me.json()["admin"] is False


def test_wrong_password_and_admin_name_with_user_password_are_refused(hub: Hub) -> None:
    _, response = login(hub, "alice", "not-the-password")
    assert response.status_code == 403
    # Admins must use the admin password; the shared user password is not enough.
    _, response = login(hub, "admin", hub.user_password)
    assert response.status_code == 403


def test_admin_logs_in_and_reaches_the_admin_page(hub: Hub) -> None:
    session, response = login(hub, "admin", hub.admin_password)
    assert response.status_code == 302, response.text[:500]
    admin_page = session.get(f"{hub.url}/hub/admin", timeout=30)
    assert admin_page.status_code == 200


def test_platform_is_the_hub_service_sxwl(hub: Hub) -> None:
    response = hub.api("GET", "services")
    assert response.status_code == 200, response.text
    services = response.json()
    assert "sxwl" in services
    sxwl = services["sxwl"]
    assert sxwl["prefix"] == "/services/sxwl/"
    assert sxwl["url"].startswith("http://127.0.0.1:")
    # Managed: the hub runs `python -m jupyter_sxwl.platform` itself (and stops it).
    assert sxwl["pid"] > 0
    assert sxwl["command"][sxwl["command"].index("-m") + 1] == "jupyter_sxwl.platform"


def test_platform_answers_through_the_proxy_for_a_user_token(hub: Hub) -> None:
    token = hub.token_for("alice")
    headers = {"Authorization": f"token {token}"}
    info = requests.get(f"{hub.platform_url}info", headers=headers, timeout=30)
    assert info.status_code == 200, info.text
    assert info.json()["user"] == {"name": "alice", "admin": False}
    # hub_config/platform_config.py: the cpu flavour plays 4 nodes on this host.
    cpu = [f for f in info.json()["flavours"] if f["name"] == "cpu"]
    assert cpu and cpu[0]["nodes"] == 4
    openapi = requests.get(f"{hub.platform_url}openapi.json", headers=headers, timeout=30)
    assert openapi.status_code == 200, openapi.text
    assert "paths" in openapi.json()


def test_platform_sees_hub_admins_as_admins(hub: Hub) -> None:
    token = hub.token_for("admin", admin=True)
    info = requests.get(
        f"{hub.platform_url}info", headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert info.status_code == 200, info.text
    assert info.json()["user"] == {"name": "admin", "admin": True}


def test_platform_refuses_calls_without_a_hub_token(hub: Hub) -> None:
    info = requests.get(f"{hub.platform_url}info", allow_redirects=False, timeout=30)
    assert info.status_code in (302, 401, 403), info.status_code


def test_browser_session_reaches_the_platform_without_a_confirmation_page(hub: Hub) -> None:
    # The platform's own page sends a browser through the hub's OAuth; with oauth_no_confirm a
    # logged-in user lands back on it directly, and the cookie then also works for the API.
    session, response = login(hub, "bob", hub.user_password)
    assert response.status_code == 302
    home = session.get(f"{hub.url}/services/sxwl/", timeout=30)
    assert home.status_code == 200, (home.url, home.text[:500])
    assert home.url.rstrip("/").endswith("/services/sxwl")
    assert "bob" in home.text
    info = session.get(f"{hub.platform_url}info", timeout=30)
    assert info.status_code == 200, info.text[:500]


def test_a_lab_spawns_and_reaches_the_platform_as_its_user(hub: Hub) -> None:
    token = hub.token_for("carol")
    headers = {"Authorization": f"token {token}"}
    started = requests.post(f"{hub.api_url}/users/carol/server", headers=headers, timeout=60)
    assert started.status_code in (201, 202), started.text
    try:
        deadline = time.monotonic() + 60
        while True:
            model = requests.get(f"{hub.api_url}/users/carol", headers=headers, timeout=30).json()
            if model["servers"].get("", {}).get("ready"):
                break
            assert time.monotonic() < deadline, f"lab not ready in 60 s:\n{hub.hub_log()[-3000:]}"
            time.sleep(0.5)
        status = requests.get(f"{hub.url}/user/carol/api/status", headers=headers, timeout=30)
        assert status.status_code == 200, status.text
        # The lab's server extension forwards to the platform (SXWL_PLATFORM_URL) with the
        # lab's own hub token, whose scopes include access:services!service=sxwl.
        info = requests.get(f"{hub.url}/user/carol/sxwl/api/v1/info", headers=headers, timeout=30)
        assert info.status_code == 200, info.text
        assert info.json()["user"]["name"] == "carol"
    finally:
        requests.delete(f"{hub.api_url}/users/carol/server", headers=headers, timeout=60)
