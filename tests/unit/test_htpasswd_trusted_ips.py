"""htpasswd_file users on `Authorization: Basic`, and trusted_ips, at /oauth2/auth."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import bcrypt
import pytest

from authsvc.config.sources import ConfigInput, load
from authsvc.errors import ConfigError
from tests.conftest import make_settings
from tests.support.app_driver import asgi_client, fake_idp_settings
from tests.support.fake_idp import FakeIdP

pytestmark = pytest.mark.anyio


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "users.txt"
    bcrypted = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    sha = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    path.write_text(f"# users\nada:{bcrypted}\nbob:{{SHA}}{sha}\n")
    return path


async def test_htpasswd_user_passes_with_groups(fake_idp: FakeIdP, htpasswd: Path) -> None:
    from authsvc.context import Context
    from authsvc.web.app import create_app

    settings = fake_idp_settings(fake_idp, htpasswd_file=str(htpasswd),
                                 htpasswd_user_groups=["static", "ops"], allowed_groups=["ops"])
    async with asgi_client(create_app(Context.build(settings))) as client:
        ok = await client.get("/oauth2/auth", headers=basic("ada", "s3cret"))
        assert ok.status_code == 202
        assert ok.headers["x-auth-request-user"] == "ada"
        assert ok.headers["x-auth-request-groups"] == "static,ops"
        assert ok.headers["x-auth-request-email"] == ""
        again = await client.get("/oauth2/auth", headers=basic("ada", "s3cret"))  # remembered
        assert again.status_code == 202
        assert (await client.get("/oauth2/auth", headers=basic("bob", "other"))).status_code == 202
        for bad in (basic("ada", "wrong"), basic("eve", "s3cret"), {"Authorization": "Basic !!"},
                    {"Authorization": "Bearer x"}):
            assert (await client.get("/oauth2/auth", headers=bad)).status_code == 401


async def test_htpasswd_user_without_an_allowed_group_is_forbidden(fake_idp: FakeIdP, htpasswd: Path) -> None:
    from authsvc.context import Context
    from authsvc.web.app import create_app

    settings = fake_idp_settings(fake_idp, htpasswd_file=str(htpasswd), allowed_groups=["admins"])
    async with asgi_client(create_app(Context.build(settings))) as client:
        assert (await client.get("/oauth2/auth", headers=basic("ada", "s3cret"))).status_code == 403


def test_htpasswd_with_an_unsupported_hash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("ada:$apr1$abc$def\n")
    with pytest.raises(ConfigError, match="only bcrypt"):
        make_settings(htpasswd_file=str(path))


def test_htpasswd_from_every_source(htpasswd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "o.cfg"
    cfg.write_text(f'htpasswd_file = "{htpasswd}"\nhtpasswd_user_groups = "a,b"\nclient_id = "c"\n'
                   'client_secret = "s"\ncookie_secret = "OQINaROshtE9TcZkNAm-5Zs2Pv3xaWytBmc5W7sPX7w="\n')
    assert load(ConfigInput(str(cfg))).settings.htpasswd_user_groups == ["a", "b"]
    monkeypatch.setenv("OAUTH2_PROXY_HTPASSWD_USER_GROUPS", "env")
    assert load(ConfigInput(str(cfg))).settings.htpasswd_user_groups == ["env"]
    flagged = load(ConfigInput(str(cfg), o2p_flags={"htpasswd_user_groups": ["x", "y"]})).settings
    assert flagged.htpasswd_user_groups == ["x", "y"]


# --- trusted_ips --------------------------------------------------------------------------------------
async def test_trusted_ip_passes_without_a_session(fake_idp: FakeIdP) -> None:
    from authsvc.context import Context
    from authsvc.web.app import create_app

    settings = fake_idp_settings(fake_idp, trusted_ips=["192.0.2.0/24"], proxy_kind="nginx")
    # straight from the client (no proxy in between)
    async with asgi_client(create_app(Context.build(settings)), peer="192.0.2.7") as client:
        r = await client.get("/oauth2/auth", headers={"X-Real-IP": "203.0.113.1"})
        assert r.status_code == 202 and r.headers["x-auth-request-user"] == ""
    async with asgi_client(create_app(Context.build(settings)), peer="198.51.100.1") as client:
        # an untrusted peer's X-Real-IP is not believed
        assert (await client.get("/oauth2/auth", headers={"X-Real-IP": "192.0.2.7"})).status_code == 401
    # from a trusted proxy: the header names the client
    async with asgi_client(create_app(Context.build(settings)), peer="127.0.0.1") as client:
        assert (await client.get("/oauth2/auth", headers={"X-Real-IP": "192.0.2.9"})).status_code == 202
        assert (await client.get("/oauth2/auth", headers={"X-Real-IP": "203.0.113.1"})).status_code == 401
        assert (await client.get("/oauth2/auth")).status_code == 401  # the proxy itself is not trusted


async def test_real_client_ip_header_x_forwarded_for(fake_idp: FakeIdP) -> None:
    from authsvc.context import Context
    from authsvc.web.app import create_app

    settings = fake_idp_settings(fake_idp, trusted_ips=["192.0.2.0/24"],
                                 real_client_ip_header="x-forwarded-for", proxy_kind="nginx")
    assert settings.real_client_ip_header == "X-Forwarded-For"
    async with asgi_client(create_app(Context.build(settings)), peer="127.0.0.1") as client:
        # the proxy appends the address it saw ($proxy_add_x_forwarded_for): the last entry
        ok = await client.get("/oauth2/auth", headers={"X-Forwarded-For": "10.0.0.1, 192.0.2.5:4444"})
        assert ok.status_code == 202
        assert (await client.get("/oauth2/auth", headers={"X-Real-IP": "192.0.2.5"})).status_code == 401


@pytest.mark.parametrize(
    ("kind", "headers"),
    [
        # a client's own X-Forwarded-For, to which the proxy appended the real address
        ("nginx", [("X-Forwarded-For", "192.0.2.5, 203.0.113.7")]),
        ("traefik", [("X-Forwarded-For", "192.0.2.5,203.0.113.7")]),
        # two header lines: one is the client's
        ("nginx", [("X-Forwarded-For", "192.0.2.5"), ("X-Forwarded-For", "203.0.113.7")]),
        ("envoy", [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-For", "192.0.2.5")]),
        # under auto no header is believed: which proxy (and which header it writes) is unknown
        ("auto", [("X-Forwarded-For", "192.0.2.5")]),
    ],
)
async def test_a_client_chosen_address_is_never_trusted(
    fake_idp: FakeIdP, kind: str, headers: list[tuple[str, str]]
) -> None:
    """oauth2-proxy reads the first X-Forwarded-For entry, which the client writes: here it is
    the last entry of one header line, under a named proxy_kind only (issue 11)."""
    from authsvc.context import Context
    from authsvc.web.app import create_app

    settings = fake_idp_settings(fake_idp, trusted_ips=["192.0.2.0/24"],
                                 real_client_ip_header="X-Forwarded-For", proxy_kind=kind)
    async with asgi_client(create_app(Context.build(settings)), peer="127.0.0.1") as client:
        assert (await client.get("/oauth2/auth", headers=headers)).status_code == 401


def test_trusted_ips_warns_and_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH2_PROXY_TRUSTED_IPS", "10.1.0.0/16")
    monkeypatch.setenv("OAUTH2_PROXY_REAL_CLIENT_IP_HEADER", "CF-Connecting-IP")
    report = load(ConfigInput(flags={"client_id": "c", "client_secret": "s",
                                     "cookie_secret": "OQINaROshtE9TcZkNAm-5Zs2Pv3xaWytBmc5W7sPX7w="}))
    assert report.settings.trusted_ips == ["10.1.0.0/16"]
    assert report.settings.real_client_ip_header == "CF-Connecting-IP"
    assert any(w.startswith("trusted_ips:") for w in report.warnings)
    with pytest.raises(ConfigError, match="real_client_ip_header"):
        make_settings(real_client_ip_header="Forwarded")
    with pytest.raises(ConfigError, match="trusted_ips"):
        make_settings(trusted_ips=["not-an-ip"])


async def test_trusted_ips_match_an_ipv4_peer_on_a_dual_stack_socket(fake_idp: FakeIdP) -> None:
    from authsvc.context import Context
    from authsvc.web.app import create_app

    # a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d (RFC 4291 §2.5.5.2)
    settings = fake_idp_settings(fake_idp, trusted_ips=["192.0.2.0/24"])
    async with asgi_client(create_app(Context.build(settings)), peer="::ffff:192.0.2.7") as client:
        assert (await client.get("/oauth2/auth")).status_code == 202
    async with asgi_client(create_app(Context.build(settings)), peer="::ffff:198.51.100.1") as client:
        assert (await client.get("/oauth2/auth")).status_code == 401


@pytest.mark.parametrize("option", ["trusted_ips", "trusted_proxy_ips"])
def test_address_lists_name_the_bad_entry(option: str) -> None:
    with pytest.raises(ConfigError, match=rf"{option}.*'10.0.0.0/33' is not an IP address or CIDR range"):
        make_settings(**{option: ["10.0.0.0/8", "10.0.0.0/33"]})
