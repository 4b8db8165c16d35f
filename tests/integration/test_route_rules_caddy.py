"""Issue 11 §3 through real Caddy: a per-route rule on an auth URL with a path is honoured.

Under the default proxy_kind, `/oauth2/auth/?allowed_groups=admins` and
`/oauth2/auth/app?allowed_groups=admins` were taken for Envoy's prefix form and their query was
dropped: a signed-in user outside admins got through. One Caddy, three sites in front of one
authsvc (default kind, any e-mail domain): the two rule-carrying auth URLs and one without a rule.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import AuthsvcFactory
from tests.support import contract
from tests.support.components import start_caddy
from tests.support.echo import EchoUpstream
from tests.support.login import browse
from tests.support.oauth2_proxy_configs import CADDY_GLOBAL
from tests.support.processes import HOST, free_port

pytestmark = pytest.mark.integration

SITE = """
http://{listen} {{
	handle /oauth2/* {{
		reverse_proxy {authsvc}
	}}
	handle {{
		forward_auth {authsvc} {{
			uri {uri}
			copy_headers X-Auth-Request-Email
		}}
		reverse_proxy {upstream}
	}}
}}
"""
AUTH_URIS = {
    "trailing slash": "/oauth2/auth/?allowed_groups=admins",
    "per-app path": "/oauth2/auth/app?allowed_groups=admins",
    "no rule": "/oauth2/auth/app?",
}


@pytest.fixture(scope="module")
def bases(
    tmp_path_factory: pytest.TempPathFactory, start_authsvc_for: AuthsvcFactory, echo: EchoUpstream
) -> Iterator[dict[str, str]]:
    authsvc = start_authsvc_for(email_domains=["*"], redirect_browsers=True)
    workdir = tmp_path_factory.mktemp("caddy-route-rules")
    blocks, bases, port = [CADDY_GLOBAL], {}, 0
    for name, uri in AUTH_URIS.items():
        port = free_port()
        blocks.append(SITE.format(listen=f"{HOST}:{port}", authsvc=f"{HOST}:{authsvc.port}",
                                  uri=uri, upstream=f"{HOST}:{echo.port}"))
        bases[name] = f"http://{HOST}:{port}"
    caddyfile = workdir / "Caddyfile"
    caddyfile.write_text("".join(blocks))
    caddy = start_caddy(workdir, caddyfile, port, {})
    try:
        yield bases
    finally:
        caddy.stop()


@pytest.mark.parametrize("name", ["trailing slash", "per-app path"])
def test_a_rule_on_an_auth_url_with_a_path_holds(bases: dict[str, str], name: str) -> None:
    base = bases[name]
    with contract.signed_in(base, "alice@example.com") as alice:  # admins, devs
        assert alice.get(base + "/app/x").status_code == 200
    # mallory (devs) signs in, but is outside admins: 403, not the app
    with contract.new_client() as mallory:
        walk = browse(mallory, base + "/app/x", login="mallory@evil.example")
        assert walk.final.status_code == 403, walk.hops


def test_the_same_auth_url_without_a_rule_admits_mallory(bases: dict[str, str]) -> None:
    """The control: mallory's 403 above comes from the rule, not from elsewhere."""
    with contract.signed_in(bases["no rule"], "mallory@evil.example") as mallory:
        seen = contract.echoed(mallory.get(bases["no rule"] + "/app/x"))
        assert seen.get("X-Auth-Request-Email") == "mallory@evil.example"
