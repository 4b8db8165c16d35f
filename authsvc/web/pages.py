"""The HTML pages people see: sign-in, error, forbidden, signed out, and the demo's home.

Server-rendered with Jinja2 (autoescaped: every value is text, whatever it holds), one base
layout, no JavaScript and nothing from another origin. The CSS is inline under a strict
Content-Security-Policy with a fresh nonce per response, so an operator's own templates
(`custom_templates_dir`, found first by name) can carry their own `<style>` the same way.
Every template is compiled and rendered once with sample values when the app is built, so a
broken custom template stops start-up with its name and line instead of failing a login.
docs/pages.md lists the templates and the variables each one receives.
"""

from __future__ import annotations

import base64
import logging
import secrets
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse, Response

from ..config import ConfigError, Settings
from ..config.pages import LOGO_TYPES, TEMPLATE_NAMES
from ..config.provider import PROVIDER_NAMES
from .causes import Cause

log = logging.getLogger("authsvc.pages")

DEFAULT_FOOTER = "Secured by authsvc"

#: the variables every page gets (see docs/pages.md)
COMMON = ("lang", "page", "host", "request_id", "csp_nonce", "provider_name", "idp", "footer", "logo",
          "prefix")
#: each page's own variables, with the sample values start-up renders it with
SAMPLES: dict[str, dict[str, Any]] = {
    "sign_in.html": {"start_url": "/oauth2/start?rd=%2F", "banner": "Sample banner",
                     "providers": [{"id": "p", "name": "Sample", "url": "/oauth2/start?provider=p&rd=%2F"}]},
    "error.html": {
        "status": 403, "code": "access_denied", "title": "Sign-in cancelled", "message": "Sample.",
        "detail": "Sample description", "operator": True, "retry_url": "/oauth2/start?rd=%2F",
        "retry_label": "Sign in again",
        "back_url": "/", "sign_out_url": "/oauth2/sign_out",
    },
    "forbidden.html": {
        "code": "denied", "user": "ada@example.com", "signed_in": True,
        "switch_url": "/oauth2/sign_out?rd=%2Foauth2%2Fsign_in", "sign_out_url": "/oauth2/sign_out",
        "back_url": "/",
    },
    "signed_out.html": {"sign_in_url": "/oauth2/sign_in"},
    "demo.html": {
        "identity": [("user", "ada")], "curl": "curl -i http://127.0.0.1:4180/oauth2/auth",
        "sign_in_url": "/oauth2/sign_in?rd=%2F", "sign_out_url": "/oauth2/sign_out?rd=%2F",
    },
}
#: templates that only others include or extend
PARTS = tuple(name for name in TEMPLATE_NAMES if name not in SAMPLES)
_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate, max-age=0",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
    "X-Accel-Expires": "0",
    "X-Content-Type-Options": "nosniff",
    # the page's URL may hold rd; the sign-in link's target, the IdP, need not see it
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # browsers older than CSP frame-ancestors
}


def logo_source(value: str) -> str:
    """The <img src> for custom_sign_in_logo: an https URL as is, a file as a data: URI."""
    if value in ("", "-") or value.startswith("https://"):
        return "" if value == "-" else value
    path = Path(value)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"invalid option custom_sign_in_logo: {value!r} cannot be read: {exc.strerror}"
        ) from None
    return f"data:{LOGO_TYPES[path.suffix.lower()]};base64,{base64.b64encode(data).decode()}"


class Pages:
    """The page renderer of one app, built once from the settings."""

    def __init__(self, settings: Settings) -> None:
        loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("authsvc.web", "templates")]
        self.custom_dir = settings.custom_templates_dir
        if self.custom_dir:
            loaders.insert(0, jinja2.FileSystemLoader(self.custom_dir))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=True,  # every template, whatever its name: values are text
            undefined=jinja2.StrictUndefined,  # a mistyped variable fails the start-up render
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.provider_name = settings.provider_display_name or PROVIDER_NAMES.get(
            settings.provider, settings.provider
        )
        #: the provider in a sentence: its name, or "the identity provider" for plain OIDC
        self.idp = settings.provider_display_name or (
            "the identity provider" if settings.provider == "oidc" else self.provider_name
        )
        self.banner = "" if settings.banner == "-" else settings.banner
        self.footer = {"": DEFAULT_FOOTER, "-": ""}.get(settings.footer, settings.footer)
        self.logo = logo_source(settings.custom_sign_in_logo)
        self.prefix = settings.proxy_prefix
        img = "data:" if self.logo.startswith("data:") else self.logo
        # CSP Level 3: nothing loads but our own inline style (by nonce) and the logo; no
        # framing (clickjacking), no <base>, forms only to ourselves
        self._csp_rest = (f"; img-src {img}" if img else "") + (
            "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        self._templates = {name: self._compile(name) for name in SAMPLES}
        self._check_custom_dir()
        for name, sample in SAMPLES.items():  # fail now, not on someone's login
            self._render_text(name, "authsvc.example", "0" * 32, "nonce", sample)

    # --- the pages ---------------------------------------------------------------------------
    def sign_in(
        self, *, host: str, request_id: str, start_url: str, providers: list[dict[str, str]] | None = None,
        status: int = 200,
    ) -> Response:
        """The sign-in page: one button to the provider, or one per provider of an app with
        several (`providers`: id, name and url of each; docs/apps.md). `status` 403 where it
        answers a protected request itself (web/any_path.py, as oauth2-proxy's Proxy())."""
        return self._page("sign_in.html", status, host, request_id, start_url=start_url, banner=self.banner,
                          providers=providers or [])

    def error(
        self, cause: Cause, *, host: str, request_id: str, retry_url: str = "", back_url: str = "",
        sign_out_url: str = "",
    ) -> Response:
        """An error page for `cause`, served with its status; "Sign in again" only if it can help."""
        return self._page(
            "error.html", cause.status, host, request_id, status=cause.status, code=cause.code,
            title=cause.title, message=cause.message, detail=cause.detail[:300],
            operator=cause.operator, retry_url=retry_url if cause.retry else "",
            retry_label=cause.retry_label, back_url=back_url,
            sign_out_url=sign_out_url,
        )

    def forbidden(
        self, *, host: str, request_id: str, user: str, signed_in: bool, switch_url: str,
        sign_out_url: str = "", back_url: str = "", code: str = "denied",
    ) -> Response:
        """403: who is signed in (or was, for a refused login), and the ways out."""
        return self._page(
            "forbidden.html", 403, host, request_id, code=code, user=user, signed_in=signed_in,
            switch_url=switch_url, sign_out_url=sign_out_url, back_url=back_url,
        )

    def signed_out(self, *, host: str, request_id: str, sign_in_url: str) -> Response:
        """After /oauth2/sign_out with nowhere else to go."""
        return self._page("signed_out.html", 200, host, request_id, sign_in_url=sign_in_url)

    def demo_home(
        self, *, host: str, request_id: str, identity: list[tuple[str, str]], curl: str,
        sign_in_url: str, sign_out_url: str,
    ) -> Response:
        """`authsvc demo`'s page at /: who you are, a curl line to try, sign in or out."""
        return self._page(
            "demo.html", 200, host, request_id, identity=identity, curl=curl,
            sign_in_url=sign_in_url, sign_out_url=sign_out_url,
        )

    # --- rendering ---------------------------------------------------------------------------
    def _page(self, name: str, status: int, host: str, request_id: str, /, **values: Any) -> Response:
        nonce = secrets.token_urlsafe(18)
        body = self._render_text(name, host, request_id, nonce, values)
        csp = f"default-src 'none'; style-src 'nonce-{nonce}'{self._csp_rest}"
        headers = {**_HEADERS, "Content-Security-Policy": csp}
        return HTMLResponse(body, status, headers=headers)

    def _render_text(
        self, name: str, host: str, request_id: str, nonce: str, values: dict[str, Any]
    ) -> str:
        common = {
            "lang": "en", "page": name.removesuffix(".html"), "host": host, "request_id": request_id,
            "csp_nonce": nonce, "provider_name": self.provider_name, "idp": self.idp, "footer": self.footer,
            "logo": self.logo, "prefix": self.prefix,
        }
        try:
            return self._templates[name].render({**common, **values})
        except jinja2.TemplateError as exc:
            if not self.custom_dir:
                raise
            raise ConfigError(f"invalid option custom_templates_dir: {name}: {exc}") from None

    def _compile(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            hint = ""
            if "{{." in (exc.source or "").replace(" ", ""):
                hint = " (an oauth2-proxy Go template? authsvc's are Jinja2: see docs/pages.md)"
            raise ConfigError(
                f"invalid option custom_templates_dir: {exc.filename or exc.name} line {exc.lineno}: "
                f"{exc.message}{hint}"
            ) from None

    def _check_custom_dir(self) -> None:
        if not self.custom_dir:
            return
        known = set(TEMPLATE_NAMES)
        for path in sorted(Path(self.custom_dir).iterdir()):
            if path.is_file() and path.name not in known:
                log.warning("custom_templates_dir: %s is not a template authsvc uses (it uses %s)",
                            path.name, ", ".join(sorted(known)))
