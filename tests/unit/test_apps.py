"""Several apps in one authsvc (config/apps.py): matching, inheritance, validation, sessions."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import httpx
import pytest

from authsvc.config.apps import App, AppRouter
from authsvc.config.sources import ConfigInput, load
from authsvc.errors import ConfigError
from authsvc.models import Identity, Session
from authsvc.sessions import codec
from tests.conftest import SECRET_A, make_settings

TOP = (f'cookie_secret = ["{SECRET_A}"]\nclient_secret = "s"\nemail_domains = ["example.com"]\n'
       'oidc_issuer_url = "https://idp.example"\nclient_id = "top"\n')


def _load(tmp_path: Path, text: str) -> list[App]:
    config = tmp_path / "authsvc.toml"
    config.write_text(text)
    return load(ConfigInput(str(config)), environ={}).apps


def _app(name: str, hosts: tuple[str, ...], prefix: str = "") -> App:
    return App(name, hosts, prefix, make_settings())


ROUTER = AppRouter([
    (app, app.name) for app in (
        _app("exact", ("app.example.com",)),
        _app("wild", ("*.example.com",)),
        _app("deeper", ("*.eu.example.com",)),
        _app("admin", ("app.example.com",), "/admin"),
        _app("admin-api", ("app.example.com",), "/admin/api"),
        _app("any", ("*",), "/public"),
    )
])


@pytest.mark.parametrize(("host", "path", "app"), [
    ("app.example.com", "/", "exact"),
    ("APP.example.com:8443", "/x", "exact"),  # case and port do not matter
    ("app.example.com", "/admin", "admin"),
    ("app.example.com", "/admin/users", "admin"),
    ("app.example.com", "/adminx", "exact"),  # whole segments only
    ("app.example.com", "/admin/api/v1", "admin-api"),  # the longest prefix wins
    ("b.example.com", "/", "wild"),
    ("a.b.example.com", "/", "wild"),
    ("x.eu.example.com", "/", "deeper"),  # the longer wildcard is more specific
    ("example.com", "/", None),  # a wildcard never matches its apex
    ("other.org", "/", None),
    ("other.org", "/public/a", "any"),
    ("evil-example.com", "/", None),
])
def test_matching(host: str, path: str, app: str | None) -> None:
    chosen = ROUTER.select(host, path)
    assert (chosen[1] if chosen else None) == app


def test_an_ambiguous_path_selects_no_app_where_a_prefix_divides_the_host() -> None:
    # /%2e%2e/admin or /admin/..: which app it is depends on who decodes it; refuse
    assert ROUTER.select("app.example.com", None) is None
    assert ROUTER.select("b.example.com", None) is None  # `*` has a prefix: it might be /public
    plain = AppRouter([(app, app.name) for app in (_app("exact", ("app.example.com",)),
                                                    _app("wild", ("*.example.com",)))])
    chosen = plain.select("app.example.com", None)
    assert chosen is not None and chosen[1] == "exact"


def test_apps_inherit_the_top_level_and_override_it(tmp_path: Path) -> None:
    apps = _load(tmp_path, TOP + 'allowed_groups = ["staff"]\n'
                 '[[apps]]\nname = "a"\nhosts = ["a.example.com"]\ncookie_name = "_a"\n'
                 '[[apps]]\nname = "b"\nhosts = ["*.b.example.org"]\npath_prefix = "/grafana/"\n'
                 'cookie_name = "_b"\nclient_id = "b-client"\nemail_domains = ["b.example.org"]\n')
    a, b = apps
    assert (a.name, a.hosts, a.path_prefix) == ("a", ("a.example.com",), "")
    assert (a.settings.client_id, a.settings.email_domains) == ("top", ["example.com"])
    assert (b.settings.client_id, b.settings.email_domains) == ("b-client", ["b.example.org"])
    assert a.settings.allowed_groups == b.settings.allowed_groups == ["staff"]
    assert b.path_prefix == "/grafana"
    assert (a.settings.proxy_prefix, b.settings.proxy_prefix) == ("/oauth2", "/grafana/oauth2")


def test_several_providers_inherit_the_app_and_get_their_own_cookie(tmp_path: Path) -> None:
    (app,) = _load(tmp_path, TOP + '[[apps]]\nname = "a"\nhosts = ["x.example"]\ncookie_name = "_a"\n'
                   'allowed_groups = ["staff"]\n'
                   '[[apps.providers]]\nid = "staff"\n'
                   '[[apps.providers]]\nid = "partners"\noidc_issuer_url = "https://p.example"\n'
                   'client_id = "p"\nprovider_display_name = "Partners"\n')
    staff, partners = app.providers
    assert (staff.id, staff.settings.client_id, staff.settings.cookie_name) == ("staff", "top", "_a_staff")
    assert partners.settings.oidc_issuer_url == "https://p.example"
    assert partners.settings.cookie_name == "_a_partners"
    assert partners.settings.allowed_groups == ["staff"]
    assert app.settings is staff.settings and app.cookie_names == ("_a_staff", "_a_partners")


def test_without_apps_there_is_the_one_implicit_app(tmp_path: Path) -> None:
    assert _load(tmp_path, TOP) == []


@pytest.mark.parametrize(("apps", "says"), [
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\ncookie_name = "_a"\n'
     '[[apps]]\nname = "b"\nhosts = ["X.example"]\ncookie_name = "_b"\n',
     "host 'x.example' is already app 'a'"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\n[[apps]]\nname = "b"\nhosts = ["y.example"]\n',
     "cookie_name '_authsvc' is already app 'a'"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\nclient_id = ""\n', "app 'a': invalid option client_id"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\noidc_issuer_url = ""\n',
     "app 'a': invalid option oidc_issuer_url"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\n[[apps]]\nname = "a"\nhosts = ["y.example"]\n'
     'cookie_name = "_y"\n', "used by another app"),
    ('[[apps]]\nhosts = ["x.example"]\n', "name is required"),
    ('[[apps]]\nname = "a"\n', "hosts is required"),
    ('[[apps]]\nname = "a"\nhosts = []\n', "non-empty list"),
    ('[[apps]]\nname = "a"\nhosts = ["https://x.example"]\n', "is not a host name"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example:443"]\n', "is not a host name"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\npath_prefix = "admin"\n', "must be a path"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\npath_prefix = "/a/../b"\n', "plain path"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\nhttp_address = ":1"\n', "option of the process"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\ntrusted_proxy_ips = []\n', "option of the process"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\ncookie_nam = "_x"\n', "not an authsvc option"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\n[[apps.providers]]\nprovider = "oidc"\n', "needs an id"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\n[[apps.providers]]\nid = "p"\n'
     '[[apps.providers]]\nid = "p"\n',
     "provider id 'p' is used twice"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\n[[apps.providers]]\nid = "p"\ncookie_name = "_p"\n',
     "cookie_name is the app's"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\n[[apps.providers]]\nid = "p"\nworkers = 2\n',
     "option of the process"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\n[[apps.providers]]\nid = "p"\nclient_id = ""\n',
     "app 'a' provider 'p': invalid option client_id"),
    ('[[apps]]\nname = "a"\nhosts = ["x.example"]\ncookie_name = "_x_p"\n[[apps]]\nname = "b"\n'
     'hosts = ["y.example"]\ncookie_name = "_x"\n[[apps.providers]]\nid = "p"\n',
     "'_x_p' is already app 'a'"),
    ('apps = "x"\n', "must be [[apps]] tables"),
])
def test_invalid_apps_are_one_clear_error(tmp_path: Path, apps: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        _load(tmp_path, TOP + apps)


def test_the_top_level_alone_need_not_be_complete(tmp_path: Path) -> None:
    # the top level is the apps' defaults: each app brings what it lacks (here its client)
    top = TOP.replace('client_id = "top"\n', "")
    (app,) = _load(tmp_path, top + '[[apps]]\nname = "a"\nhosts = ["x.example"]\nclient_id = "a"\n')
    assert app.settings.client_id == "a"
    with pytest.raises(ConfigError, match="app 'a': invalid option client_id"):
        _load(tmp_path, top + '[[apps]]\nname = "a"\nhosts = ["x.example"]\n')


def test_sessions_record_their_app_and_old_ones_still_open() -> None:
    session = Session(Identity(user="u"), created_at=1, app="grafana/staff", issuer="https://idp.example")
    opened = codec.decode(codec.encode(session))
    assert (opened.app, opened.issuer) == ("grafana/staff", "https://idp.example")
    # a session written before apps existed has no "ap": the implicit app's ("")
    old = codec.encode(Session(Identity(user="u"), created_at=1))
    assert b"ap" not in old and (codec.decode(old).app, codec.decode(old).issuer) == ("", "")
    with pytest.raises(Exception, match="'ap' is not a string"):
        codec.decode(b"\x01" + b'{"u":"x","ap":1}')


@pytest.mark.anyio
async def test_another_apps_session_is_no_session() -> None:
    # the same secret and even the same cookie name (validation forbids it; the session's own
    # record of its app still refuses it, for the Redis store too)
    from authsvc.context import Context

    a, b = (Context.build(make_settings(), app=name) for name in ("a", "b"))
    try:
        value = await a.store.save(Session(Identity(user="u"), created_at=1, app="a"), None)
        header = f"{a.settings.cookie_name}={value}"
        loaded = await a.loader.load(header)
        assert loaded.session is not None and loaded.session.app == "a"
        assert (await b.loader.load(header)).session is None
    finally:
        await a.aclose()
        await b.aclose()


@pytest.mark.parametrize(("body", "for_it"), [
    (b"logout_token=" + b".".join([b"e30", base64.urlsafe_b64encode(
        b'{"iss":"https://idp.example","aud":["c","x"]}').rstrip(b"="), b"sig"]), True),
    (b"logout_token=" + b".".join([b"e30", base64.urlsafe_b64encode(
        b'{"iss":"https://idp.example","aud":"other"}').rstrip(b"="), b"sig"]), False),
    (b"logout_token=" + b".".join([b"e30", base64.urlsafe_b64encode(
        b'{"iss":"https://evil.example","aud":"c"}').rstrip(b"="), b"sig"]), False),
    (b"logout_token=not-a-jwt", False),
    (b"logout_token=a.%ff%fe.b", False),
    (b"\xff\xfe", False),
    (b"logout_token=a." + base64.urlsafe_b64encode(b"[" * 5000) + b".c", False),
    (b"", False),
])
def test_the_logout_tokens_issuer_and_audience_pick_the_app(body: bytes, for_it: bool) -> None:
    from authsvc.web.app import _logout_token_for

    settings = make_settings(oidc_issuer_url="https://idp.example", client_id="c")
    assert _logout_token_for(body, settings) is for_it


@pytest.mark.anyio
async def test_the_dispatcher_hands_each_request_to_its_app(tmp_path: Path) -> None:
    # in process (no IdP is called: no session is ever complete here), behind "nginx" on loopback
    from authsvc.web.app import create_apps_app
    from tests.support.app_driver import asgi_client

    apps = _load(tmp_path, TOP + 'proxy_kind = "nginx"\n'
                 '[[apps]]\nname = "root"\nhosts = ["x.example"]\ncookie_name = "_root"\n'
                 '[[apps]]\nname = "admin"\nhosts = ["x.example"]\npath_prefix = "/admin"\n'
                 'cookie_name = "_admin"\nredirect_browsers = true\n')
    dispatcher = create_apps_app(apps)
    root = next(m for m in dispatcher._apps if m.state.context.app == "root").state.context
    value = await root.store.save(Session(Identity(user="u", email="u@example.com"), created_at=1,
                                          app="root"), None)
    browser = {"Accept": "text/html", "Cookie": f"_root={value}"}
    async with asgi_client(dispatcher) as client:
        async def check(host: str, uri: str, **headers: str) -> httpx.Response:
            return await client.get("/oauth2/auth", headers={"Host": host, "X-Original-URI": uri,
                                                            "X-Original-Method": "GET",
                                                            "X-Forwarded-Host": host, **headers})

        assert (await check("x.example", "/page", Cookie=f"_root={value}")).status_code == 202
        # the same cookie under /admin is the admin app's check: not its session
        admin = await check("x.example", "/admin/page", **browser)
        assert admin.status_code == 302  # redirect_browsers: the admin app's own sign-in
        assert "://x.example/admin/oauth2/start?rd=" in admin.headers["location"]
        assert (await check("x.example", "/adminx", Cookie=f"_root={value}")).status_code == 202
        # an ambiguous path where a prefix divides the host: no app, fail closed
        assert (await check("x.example", "/%61dmin/../admin", Cookie=f"_root={value}")).status_code == 403
        assert (await check("y.example", "/page", Cookie=f"_root={value}")).status_code == 403
        page = await client.get("/admin/oauth2/sign_in", headers={"Host": "x.example"})
        assert page.status_code == 200 and "/admin/oauth2/start" in page.text
        assert (await client.get("/oauth2/sign_in", headers={"Host": "y.example"})).status_code == 421
        assert (await client.get("/ping", headers={"Host": "y.example"})).text == "OK"
        # one /metrics for the process, each app's series labelled with its name
        text = (await client.get("/metrics", headers={"Host": "y.example"})).text
        assert 'authsvc_requests_total{app="root",endpoint="auth",outcome="allowed"} 2.0' in text
        assert 'authsvc_requests_total{app="admin",endpoint="auth",outcome="unauthenticated"} 1.0' in text
        assert text.count("# TYPE authsvc_requests_total counter") == 1
    for member in dispatcher._apps:
        await member.state.context.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "headers"),
    [
        # auto: behind oauth2-proxy's nginx config any of these is the client's own
        ("auto", {"X-Forwarded-Host": "b.example", "X-Forwarded-Uri": "/page"}),
        ("auto", {"X-Original-URL": "http://b.example/page"}),
        # nginx: the description is incomplete (no X-Original-Method) or contradicted
        ("nginx", {"X-Forwarded-Host": "b.example", "X-Original-URI": "/page"}),
        ("nginx", {"X-Forwarded-Host": "b.example", "X-Original-URI": "/page",
                   "X-Original-Method": "GET", "X-Forwarded-Uri": "/other"}),
    ],
)
async def test_a_host_the_proxy_did_not_vouch_for_selects_no_app(
    tmp_path: Path, kind: str, headers: dict[str, str]
) -> None:
    """App b's session must not answer a check for app a because the client named b's host."""
    from authsvc.web.app import create_apps_app
    from tests.support.app_driver import asgi_client

    apps = _load(tmp_path, TOP + f'proxy_kind = "{kind}"\n'
                 '[[apps]]\nname = "a"\nhosts = ["a.example"]\ncookie_name = "_a"\n'
                 '[[apps]]\nname = "b"\nhosts = ["b.example"]\ncookie_name = "_b"\n')
    dispatcher = create_apps_app(apps)
    b = next(m for m in dispatcher._apps if m.state.context.app == "b").state.context
    value = await b.store.save(Session(Identity(user="u", email="u@example.com"), created_at=1,
                                       app="b"), None)
    async with asgi_client(dispatcher) as client:
        check = await client.get("/oauth2/auth", headers={"Host": "a.example", "Cookie": f"_b={value}",
                                                         **headers})
        assert check.status_code == 403
        # the same session, described as the nginx contract says: b's own check passes
        vouched = await client.get("/oauth2/auth", headers={
            "Host": "b.example", "X-Forwarded-Host": "b.example", "X-Original-URI": "/page",
            "X-Original-Method": "GET", "Cookie": f"_b={value}"})
        assert vouched.status_code == (202 if kind == "nginx" else 403)
    for member in dispatcher._apps:
        await member.state.context.aclose()


def test_check_config_shows_each_app_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from authsvc.cli import main

    config = tmp_path / "authsvc.toml"
    config.write_text(TOP + '[[apps]]\nname = "a"\nhosts = ["a.example"]\ncookie_name = "_a"\n'
                      'client_secret = "app-a-secret"\n'
                      '[[apps]]\nname = "b"\nhosts = ["b.example"]\ncookie_name = "_b"\n')
    for name in [n for n in os.environ if n.startswith(("AUTHSVC_", "OAUTH2_PROXY_"))]:
        monkeypatch.delenv(name)
    assert main(["check-config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "app-a-secret" not in out
    shown = json.loads(out)["apps"]
    assert [(a["name"], a["hosts"], a["settings"]["cookie_name"]) for a in shown] == [
        ("a", ["a.example"], "_a"), ("b", ["b.example"], "_b")]
    assert shown[0]["settings"]["client_secret"] == "****"


@pytest.mark.anyio
async def test_a_back_channel_post_too_large_for_the_dispatcher_is_413(tmp_path: Path) -> None:
    from authsvc.web.app import create_apps_app
    from tests.support.app_driver import asgi_client

    apps = _load(tmp_path, TOP + 'max_request_body_bytes = 1024\n'
                 '[[apps]]\nname = "a"\nhosts = ["x.example"]\ncookie_name = "_a"\n')
    dispatcher = create_apps_app(apps)
    async with asgi_client(dispatcher) as client:
        r = await client.post("/oauth2/backchannel_logout", content=b"logout_token=" + b"x" * 4096,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413
        # a token naming no app goes by host: this one has an app, whose store cannot do it (501)
        r = await client.post("/oauth2/backchannel_logout", data={"logout_token": "a.b.c"},
                              headers={"Host": "x.example"})
        assert r.status_code == 501
        r = await client.post("/oauth2/backchannel_logout", data={"logout_token": "a.b.c"},
                              headers={"Host": "nobody.example"})
        assert r.status_code == 421
    for member in dispatcher._apps:
        await member.state.context.aclose()


@pytest.mark.anyio
async def test_a_stale_cookie_of_one_provider_does_not_hide_anothers_session(tmp_path: Path) -> None:
    # provider x's cookie outlived its session (back-channel logout, expiry, a rotated secret);
    # the user then signed in with y: the check, /userinfo and sign-out must find y's session,
    # not answer "no session" from x's cookie (else every sign-in with y loops back to sign-in)
    from authsvc.web.app import create_apps_app
    from tests.support.app_driver import asgi_client

    apps = _load(tmp_path, TOP + 'proxy_kind = "nginx"\n'
                 '[[apps]]\nname = "m"\nhosts = ["m.example"]\ncookie_name = "_m"\n'
                 '[[apps.providers]]\nid = "x"\n[[apps.providers]]\nid = "y"\n')
    dispatcher = create_apps_app(apps)
    y = next(m for m in dispatcher._apps if m.state.context.app == "m/y").state.context
    value = await y.store.save(Session(Identity(user="u", email="u@example.com"), created_at=1,
                                       app="m/y"), None)
    cookie = f"_m_x=stale; _m_y={value}"
    async with asgi_client(dispatcher) as client:
        check = await client.get("/oauth2/auth", headers={
            "Host": "m.example", "X-Original-URI": "/page", "X-Original-Method": "GET",
            "X-Forwarded-Host": "m.example",
            "Cookie": cookie})
        assert check.status_code == 202
        info = await client.get("/oauth2/userinfo", headers={"Host": "m.example", "Cookie": cookie})
        assert info.status_code == 200 and info.json()["email"] == "u@example.com"
        # with x's stale cookie alone: no session, from the first provider that has a cookie
        alone = await client.get("/oauth2/auth", headers={
            "Host": "m.example", "X-Original-URI": "/page", "X-Original-Method": "GET",
            "X-Forwarded-Host": "m.example",
            "Cookie": "_m_x=stale"})
        assert alone.status_code == 401
    for member in dispatcher._apps:
        await member.state.context.aclose()


@pytest.mark.anyio
async def test_skip_provider_button_keeps_the_choice_of_several_providers(tmp_path: Path) -> None:
    # authsvc cannot choose for the user (docs/apps.md): the page stays, one button per provider
    from authsvc.web.app import create_apps_app
    from tests.support.app_driver import asgi_client

    apps = _load(tmp_path, TOP + 'proxy_kind = "nginx"\nskip_provider_button = true\n'
                 '[[apps]]\nname = "m"\nhosts = ["m.example"]\ncookie_name = "_m"\n'
                 '[[apps.providers]]\nid = "x"\n[[apps.providers]]\nid = "y"\n'
                 '[[apps]]\nname = "one"\nhosts = ["one.example"]\ncookie_name = "_one"\n')
    dispatcher = create_apps_app(apps)
    async with asgi_client(dispatcher) as client:
        start = await client.get("/oauth2/start?rd=%2Fpage", headers={"Host": "m.example"})
        assert start.status_code == 302 and start.headers["location"].startswith("/oauth2/sign_in?rd=")
        page = await client.get("/oauth2/sign_in?rd=%2Fpage", headers={"Host": "m.example"})
        assert page.status_code == 200
        assert {"x", "y"} <= set(re.findall(r'id="sign-in-(\w+)"', page.text))
        # an app with one provider skips the page, as a single-app authsvc does
        one = await client.get("/oauth2/sign_in?rd=%2Fpage", headers={"Host": "one.example"})
        assert one.status_code == 302 and "/oauth2/start" in one.headers["location"]
    for member in dispatcher._apps:
        await member.state.context.aclose()
