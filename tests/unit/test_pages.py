"""The page renderer (authsvc/web/pages.py): escaping, the CSP, branding options, and an
operator's own templates (found first, checked at start-up)."""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import Response

from authsvc.config import ConfigError
from authsvc.config.provider import PROVIDER_NAMES
from authsvc.web.causes import Cause, idp_error
from authsvc.web.pages import SAMPLES, Pages
from tests.conftest import make_settings
from tests.support.fake_idp import client_key_pem

HOSTILE = '<script>alert(1)</script>"\'&'
NONCE = re.compile(r"style-src 'nonce-([A-Za-z0-9_-]{20,})'")
PNG = bytes.fromhex(  # a 1x1 image
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e527de570000000049454e44ae426082"
)


def pages(**options: Any) -> Pages:
    return Pages(make_settings(**options))


def html(response: Response) -> str:
    return bytes(response.body).decode()


def every_page(p: Pages, text: str = "x") -> dict[str, Response]:
    """Each page, every value it shows set to `text`."""
    cause = Cause("access_denied", 403, text, text, detail=text)
    return {
        "sign_in": p.sign_in(host=text, request_id=text, start_url=text),
        "error": p.error(cause, host=text, request_id=text, retry_url=text, back_url=text, sign_out_url=text),
        "forbidden": p.forbidden(host=text, request_id=text, user=text, signed_in=False, switch_url=text),
        "signed_out": p.signed_out(host=text, request_id=text, sign_in_url=text),
        "demo": p.demo_home(host=text, request_id=text, identity=[(text, text)], curl=text,
                            sign_in_url=text, sign_out_url=text),
    }


@pytest.mark.parametrize("name", ["sign_in", "error", "forbidden", "signed_out", "demo"])
def test_every_value_is_escaped_on_every_page(name: str) -> None:
    p = pages(banner=HOSTILE, footer=HOSTILE, provider_display_name=HOSTILE)
    body = html(every_page(p, HOSTILE)[name])
    assert "<script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert '"\'&' not in body  # quotes and ampersands too: attribute values stay closed


def test_error_description_is_quoted_escaped_and_bounded() -> None:
    cause = idp_error("access_denied", "<img src=x onerror=alert(1)>", "Keycloak")
    body = html(pages().error(cause, host="h", request_id="r", retry_url="/retry"))
    assert "&lt;img src=x onerror=alert(1)&gt;" in body and "<img src=x" not in body
    long = html(pages().error(idp_error("access_denied", "A" * 1000, "K"), host="h", request_id="r"))
    assert "A" * 300 in long and "A" * 301 not in long
    assert 'data-error-code="access_denied"' in body and 'href="/retry"' in body


def test_no_sign_in_again_where_it_cannot_help() -> None:
    p = pages()
    operator = Cause("client_rejected", 502, "t", "m", retry=False, operator=True)
    body = html(p.error(operator, host="h", request_id="r", retry_url="/oauth2/start"))
    assert 'id="retry"' not in body and "problem in how this site is set up" in body
    body = html(p.error(Cause("login_expired", 403, "t", "m"), host="h", request_id="r", retry_url="/s"))
    assert 'id="retry"' in body and "problem in how this site is set up" not in body


@pytest.mark.parametrize("name", ["sign_in", "error", "forbidden", "signed_out", "demo"])
def test_each_page_has_a_strict_csp_whose_nonce_is_its_styles(name: str) -> None:
    first, second = every_page(pages())[name], every_page(pages())[name]
    csp = first.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'nonce-")
    assert "form-action 'self'" in csp and "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
    assert "img-src" not in csp and "script" not in csp
    match = NONCE.search(csp)
    assert match and f'<style nonce="{match.group(1)}">' in html(first)
    assert csp != second.headers["content-security-policy"]  # a fresh nonce per response
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["referrer-policy"] == "no-referrer"
    assert first.headers["cache-control"].startswith("no-cache")
    assert "<script" not in html(first) and "http://" not in html(first) and "https://" not in html(first)


def test_accessibility_basics_on_every_page() -> None:
    for name, response in every_page(pages()).items():
        body = html(response)
        assert '<html lang="en">' in body, name
        assert body.count("<main") == 1 and "<footer>" in body and body.count("<h1>") == 1, name
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body, name


def test_a_logo_file_is_inlined_and_only_data_images_are_allowed(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    response = pages(custom_sign_in_logo=str(logo)).sign_in(host="h", request_id="r", start_url="/s")
    assert "img-src data:;" in response.headers["content-security-policy"]
    assert '<img class="logo" src="data:image/png;base64,iVBORw0KGgo' in html(response)


def test_an_https_logo_is_the_one_other_source_allowed() -> None:
    url = "https://cdn.example.com/brand/logo.svg"
    response = pages(custom_sign_in_logo=url).sign_in(host="h", request_id="r", start_url="/s")
    assert f"img-src {url};" in response.headers["content-security-policy"]
    assert f'src="{url}" alt="" referrerpolicy="no-referrer"' in html(response)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://cdn.example.com/logo.png", "mixed content"),
        ("https://cdn.example.com/a b.png", "not a plain https URL"),
        ("https://cdn.example.com/x.png;script-src *", "not a plain https URL"),
        ("/nonexistent/logo.png", "cannot be read"),
        ("logo.bmp", "use a"),
    ],
)
def test_unusable_logos_are_refused_at_start_up(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"custom_sign_in_logo .*{re.escape(problem)}"):
        make_settings(custom_sign_in_logo=value)


def test_a_huge_logo_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"\0" * 300_000)
    with pytest.raises(ConfigError, match="at most 262144"):
        make_settings(custom_sign_in_logo=str(big))


@pytest.mark.parametrize(("kind", "name"), sorted(PROVIDER_NAMES.items()))
def test_the_button_names_the_provider_properly(kind: str, name: str) -> None:
    derived = kind in ("google", "entra-id", "azure")  # these refuse an issuer of another
    extra: dict[str, Any] = {"provider": kind, "entra_id_allowed_tenants": ["*"],
                             "oidc_issuer_url": "" if derived else "https://i"}
    if kind == "login.gov":  # its client signs a JWT instead of sending a secret
        extra["jwt_key"] = client_key_pem()
    body = html(pages(**extra).sign_in(host="h", request_id="r", start_url="/s"))
    assert f"Sign in with {name}</a>" in body


def test_provider_display_name_banner_and_footer() -> None:
    p = pages(provider_display_name="Company SSO", banner="Staff only.", footer="ACME IT")
    body = html(p.sign_in(host="app.example.com", request_id="r", start_url="/s"))
    assert "Sign in with Company SSO</a>" in body and "Staff only." in body and "ACME IT" in body
    assert "<strong>app.example.com</strong>" in body
    plain = html(pages().sign_in(host="h", request_id="r", start_url="/s"))
    assert "Secured by authsvc" in plain and 'class="banner"' not in plain
    bare = html(pages(footer="-", banner="-").sign_in(host="h", request_id="r", start_url="/s"))
    assert "Secured by authsvc" not in bare and 'class="banner"' not in bare


def test_banner_is_text_of_bounded_size() -> None:
    with pytest.raises(ConfigError, match="banner"):
        make_settings(banner="x" * 2001)
    with pytest.raises(ConfigError, match="provider_display_name"):
        make_settings(provider_display_name="two\nlines")


# --- custom_templates_dir --------------------------------------------------------------------
def test_an_operators_template_replaces_ours_by_name(tmp_path: Path) -> None:
    (tmp_path / "sign_in.html").write_text(
        '{% extends "base.html" %}{% block title %}Welcome{% endblock %}'
        "{% block content %}<h1>ACME portal</h1><a href=\"{{ start_url }}\">Go</a>{% endblock %}"
    )
    (tmp_path / "style.css").write_text("body{background:rebeccapurple}")
    p = pages(custom_templates_dir=str(tmp_path))
    body = html(p.sign_in(host="h", request_id="rid-1", start_url="/oauth2/start?rd=%2F"))
    assert "<h1>ACME portal</h1>" in body and 'href="/oauth2/start?rd=%2F"' in body
    assert "background:rebeccapurple" in body and "rid-1" in body  # our layout, their style
    # the pages they did not replace are ours
    assert "Signed out" in html(p.signed_out(host="h", request_id="r", sign_in_url="/s"))


def test_an_operators_own_layout_gets_the_nonce(tmp_path: Path) -> None:
    (tmp_path / "base.html").write_text(
        '<!doctype html><html lang="de"><head><style nonce="{{ csp_nonce }}">p{}</style></head>'
        "<body><main>{% block content %}{% endblock %}</main></body></html>"
    )
    p = pages(custom_templates_dir=str(tmp_path))
    response = p.signed_out(host="h", request_id="r", sign_in_url="/s")
    match = NONCE.search(response.headers["content-security-policy"])
    assert match and f'<style nonce="{match.group(1)}">' in html(response) and 'lang="de"' in html(response)


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("error.html", "{% if %}", r"error\.html line 1"),
        ("sign_in.html", "<p>{{ .ProviderName }}</p>", "oauth2-proxy Go template"),
        ("forbidden.html", "{{ no_such_variable }}", "forbidden.html.*no_such_variable"),
        ("base.html", "{% block content %}{% endblock %}{{ oops.x }}", "oops"),
    ],
)
def test_a_broken_template_stops_start_up_naming_it(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=rf"custom_templates_dir.*{problem}"):
        pages(custom_templates_dir=str(tmp_path))


def test_a_file_authsvc_does_not_use_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "signin.html").write_text("typo'd name")
    with caplog.at_level(logging.WARNING):
        pages(custom_templates_dir=str(tmp_path))
    assert "signin.html is not a template authsvc uses" in caplog.text


def test_a_syntax_error_is_a_settings_error_check_config_reports(tmp_path: Path) -> None:
    (tmp_path / "error.html").write_text("<p>\n{% if %}")
    one_line = r"^invalid option custom_templates_dir \(AUTHSVC_\w+\): '.*': error\.html line 2: "
    with pytest.raises(ConfigError, match=one_line):
        make_settings(custom_templates_dir=str(tmp_path))


def test_custom_templates_dir_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"custom_templates_dir .*is not a directory"):
        make_settings(custom_templates_dir=str(tmp_path / "missing"))


def test_the_templates_ship_inside_the_package() -> None:
    folder = resources.files("authsvc.web") / "templates"
    names = {entry.name for entry in folder.iterdir()}
    assert {*SAMPLES, "base.html", "style.css"} <= names


def test_docs_name_every_template_and_its_variables() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "pages.md").read_text()
    for name, sample in SAMPLES.items():
        section = doc.split(f"### `{name}`", 1)
        assert len(section) == 2, f"docs/pages.md has no section for {name}"
        for variable in sample:
            assert f"`{variable}`" in section[1].split("\n### ", 1)[0], f"{name}: {variable} undocumented"


def test_troubleshooting_explains_every_code_a_page_can_show() -> None:
    source = (Path(__file__).resolve().parents[2] / "authsvc" / "web" / "causes.py").read_text()
    codes = set(re.findall(r'Cause\(\s*"([a-z_]+)"', source)) | {"denied", "login_denied"}
    assert len(codes) > 15
    doc = (Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md").read_text()
    missing = sorted(code for code in codes if f"`{code}`" not in doc)
    assert not missing, f"docs/troubleshooting.md does not explain {missing}"
