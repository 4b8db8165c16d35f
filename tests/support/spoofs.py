"""What a client sends to make a protected request look public (issue 11 §1), as header lists.

authsvc runs with `skip_auth_routes = ["^/public/"]` and `skip_auth_preflight = true`; the
client asks for a protected path and adds headers that describe `/public/x` or an `OPTIONS`
preflight. Each set is a list of (name, value) pairs, so a header can be repeated. The sets
cover every forwarded header any proxy kind reads or any proxy sets, in canonical, lower,
upper, underscore, mixed and dotted spellings, repeated, and all together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import pytest

from .processes import Process

Headers = list[tuple[str, str]]

PUBLIC_PATH = "/public/x"
SKIP_ROUTES = ["^/public/"]


def strict_and_default(
    start_authsvc: Callable[..., Process], proxy_kind: str, **options: Any
) -> tuple[Process, Process]:
    """authsvc with the skip routes and preflight on, under `proxy_kind` and under the default
    kind (each module runs its proxy's documented configurations against both)."""
    rules = {"skip_auth_routes": SKIP_ROUTES, "skip_auth_preflight": True, **options}
    return start_authsvc(proxy_kind=proxy_kind, **rules), start_authsvc(**rules)


def _values(host: str) -> dict[str, str]:
    return {
        "X-Original-URL": f"http://{host}{PUBLIC_PATH}",
        "X-Original-URI": PUBLIC_PATH,
        "X-Original-Method": "OPTIONS",
        "X-Forwarded-Uri": PUBLIC_PATH,
        "X-Forwarded-Method": "OPTIONS",
        "X-Forwarded-Host": host,
        "X-Forwarded-Proto": "https",
        "X-Auth-Request-Redirect": PUBLIC_PATH,
        "X-Sent-From": "nginx-ingress-controller",
    }


def _spellings(name: str) -> list[str]:
    """The canonical name and the aliases some servers or frameworks fold into it."""
    words = name.split("-")
    return [
        name,
        name.lower(),
        name.upper(),
        "_".join(words),  # X_Original_URL: CGI/WSGI read it as X-Original-URL
        "_".join(words).lower(),
        words[0] + "-" + "_".join(words[1:]),  # X-Original_URL
        "_".join(words[:2]) + ("-" + "-".join(words[2:]) if words[2:] else ""),  # X_Original-URL
        ".".join(words),
    ]


def spoof_sets(host: str) -> dict[str, Headers]:
    """Named header sets, for `pytest.mark.parametrize(..., ids=...)`."""
    values = _values(host)
    sets: dict[str, Headers] = {}
    for canonical, value in values.items():
        for spelling in dict.fromkeys(_spellings(canonical)):
            sets[spelling] = [(spelling, value)]
        # twice: the proxy's copy and the client's (or two of the client's)
        sets[f"{canonical} twice"] = [(canonical, value), (canonical, value)]
        sets[f"{canonical} twice, mixed case"] = [(canonical.lower(), value), (canonical, value)]
    # whole descriptions, as each proxy would send them
    sets["ingress-nginx set"] = [(n, values[n]) for n in (
        "X-Original-URL", "X-Original-Method", "X-Auth-Request-Redirect", "X-Sent-From")]
    sets["traefik/caddy set"] = [(n, values[n]) for n in (
        "X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Host", "X-Forwarded-Proto")]
    sets["nginx set"] = [(n, values[n]) for n in (
        "X-Original-URI", "X-Original-Method", "X-Forwarded-Host", "X-Forwarded-Proto")]
    sets["method overrides"] = [("X-HTTP-Method-Override", "OPTIONS"), ("X-Method-Override", "OPTIONS")]
    sets["everything"] = [pair for pair in values.items()]
    sets["everything, underscored"] = [("_".join(n.split("-")), v) for n, v in values.items()]
    return sets


# --- what each proxy really sends -----------------------------------------------------------
REAL_HOST = "app.example.com"
REAL_PATH = "/admin/secret"


class ProxyModel:
    """What one proxy configuration sends authsvc for `GET https://app.example.com/admin/secret`.

    `overwrites`: lower-case names the proxy sets or blanks, so a client's copy never arrives;
    every other header may be the client's. `fits`: the proxy kinds an operator may name for
    it; `vouches`: those under which its description is evidence (public routes apply).
    """

    def __init__(
        self,
        sends: Headers,
        overwrites: set[str],
        fits: tuple[str, ...],
        vouches: tuple[str, ...],
        prefix_form: bool = False,
    ) -> None:
        self.sends = sends
        self.overwrites = frozenset(n.lower() for n in {*overwrites, *(n for n, _ in sends)})
        self.fits = fits
        self.vouches = vouches
        #: Envoy's path_prefix form: the original path follows the auth path
        self.prefix_form = prefix_form

    def auth_path(self, original: str = REAL_PATH) -> str:
        return "/oauth2/auth" + original if self.prefix_form else "/oauth2/auth"

    def with_client(self, client: Headers) -> Headers:
        """The check as authsvc gets it: the proxy's headers plus what survives of the client's."""
        return self.sends + [(n, v) for n, v in client if n.lower() not in self.overwrites]


PROXIES: dict[str, ProxyModel] = {
    # examples/nginx/nginx.conf: sets four, blanks four (proxy_set_header X "" omits X)
    "nginx-example": ProxyModel(
        [("X-Original-URI", REAL_PATH), ("X-Original-Method", "GET"),
         ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", REAL_HOST)],
        {"x-original-url", "x-forwarded-uri", "x-forwarded-method", "x-auth-request-redirect"},
        fits=("auto", "nginx"), vouches=("nginx",),
    ),
    # oauth2-proxy docs/docs/configuration/integrations/nginx.md: Host, X-Real-IP and
    # X-Forwarded-Uri only; nginx passes every other client header on
    "nginx-oauth2-proxy": ProxyModel(
        [("X-Forwarded-Uri", REAL_PATH)], {"x-real-ip"}, fits=("auto", "nginx"), vouches=(),
    ),
    # an auth location that sets nothing: no named kind fits it (docs/security.md)
    "nginx-bare": ProxyModel([], set(), fits=("auto",), vouches=()),
    # ingress-nginx's nginx.tmpl auth location (oauth2-proxy's documented annotations too)
    "ingress-nginx": ProxyModel(
        [("X-Original-URL", f"https://{REAL_HOST}{REAL_PATH}"), ("X-Original-Method", "GET"),
         ("X-Auth-Request-Redirect", REAL_PATH), ("X-Sent-From", "nginx-ingress-controller")],
        {"x-forwarded-proto", "x-real-ip", "x-forwarded-for", "x-request-id"},
        fits=("auto", "ingress-nginx"), vouches=("ingress-nginx",),
    ),
    # Traefik forwardAuth (trustForwardHeader false or unset) and Caddy forward_auth
    "traefik": ProxyModel(
        [("X-Forwarded-Method", "GET"), ("X-Forwarded-Proto", "https"),
         ("X-Forwarded-Host", REAL_HOST), ("X-Forwarded-Uri", REAL_PATH)],
        {"x-forwarded-for"}, fits=("auto", "traefik", "caddy"), vouches=("traefik", "caddy"),
    ),
    # Envoy path_prefix: the request line (and, with a broad allowed_headers, any header)
    "envoy": ProxyModel([], set(), fits=("auto", "envoy"), vouches=("auto", "envoy"),
                        prefix_form=True),
}

#: every (proxy, kind) an operator may run
CASES = [(proxy, kind) for proxy, model in PROXIES.items() for kind in model.fits]
CASE_IDS = [f"{proxy}-{kind}" for proxy, kind in CASES]


def protected_path_attempts(
    get: Callable[[str, Headers], int], host: str, path: str = REAL_PATH
) -> list[str]:
    """Every spoof set against `path` through a proxy; the names of those that got a 2xx.

    `get(path, headers)` sends one request through the proxy and returns the status. No
    session is sent, so any 2xx means the protected path was made public.
    """
    got_through = []
    for name, spoof in spoof_sets(host).items():
        status = get(path, [*spoof, ("Accept", "application/json")])
        if 200 <= status < 300:
            got_through.append(f"{name}: {status}")
    return got_through


@dataclass(frozen=True)
class Site:
    """A proxy in front of authsvc (skip routes and preflight on) and the echo app."""

    base: str
    #: whether authsvc may believe this proxy about the original request (public routes work)
    vouches: bool
    #: sends the request through the proxy, for sites reached by name (ingress-nginx)
    transport: httpx.BaseTransport | None = None

    def status(self, path: str, headers: Headers, method: str = "GET") -> int:
        with httpx.Client(timeout=15, transport=self.transport) as client:
            return client.request(method, self.base + path, headers=headers).status_code

    def attempts(self) -> list[str]:
        """protected_path_attempts through this site."""
        return protected_path_attempts(self.status, urlsplit(self.base).netloc)


def assert_public_only_if_vouched(site: Site) -> None:
    """The control for the attacks: public routes and preflights work exactly where authsvc
    can believe the proxy, and fail closed elsewhere (401, or the config's sign-in 302)."""
    json = [("Accept", "application/json")]
    public = site.status(PUBLIC_PATH, json)
    preflight = site.status(REAL_PATH, [*json, ("Access-Control-Request-Method", "GET"),
                                        ("Origin", "http://elsewhere.test")], method="OPTIONS")
    if site.vouches:
        assert (public, preflight) == (200, 200)
    else:
        assert public in (302, 401) and preflight in (302, 401), (public, preflight)
    assert site.status(REAL_PATH, json) in (302, 401)


class SpoofingContract:
    """The two scenarios for every site of a proxy's spoofing module, as a class it subclasses.

    Like tests/support/proxy_contract.py: the module defines its module-scoped `sites` fixture
    (name -> Site) and `class TestX(SpoofingContract)` with `SITES`, the names to run; each
    test runs once per name.
    """

    SITES: ClassVar[Sequence[str]] = ()

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "name" in metafunc.fixturenames:
            metafunc.parametrize("name", self.SITES)

    def test_no_client_header_makes_a_protected_path_public(self, sites: dict[str, Site], name: str) -> None:
        through = sites[name].attempts()
        assert not through, f"{name}: protected path served without a session for {through}"

    def test_public_routes_work_only_where_authsvc_can_believe_the_proxy(
        self, sites: dict[str, Site], name: str
    ) -> None:
        """The control: the attacks would get through if these were ignored altogether."""
        assert_public_only_if_vouched(sites[name])
