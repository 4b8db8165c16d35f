"""The pages people see: the name on the sign-in button, banner, footer, logo, own templates.

oauth2-proxy's option names. Two differences, both on purpose: `banner` and `footer` are plain
text (oauth2-proxy inserts them as raw HTML); markup belongs in `custom_templates_dir`, whose
templates are files the operator reviews. And a logo file is inlined as a `data:` URI, so the
page still loads nothing from another origin (docs/pages.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from .loading import option_error

#: what a logo file may be (by extension), and its media type in the data: URI
LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".svg": "image/svg+xml", ".gif": "image/gif", ".webp": "image/webp"}  # fmt: skip
#: every sign-in page carries the logo inline: keep it small
LOGO_MAX_BYTES = 256 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and newline are fine
#: the templates web/pages.py renders or includes; custom_templates_dir may replace any of them
TEMPLATE_NAMES = ("sign_in.html", "error.html", "forbidden.html", "signed_out.html", "demo.html",
                  "base.html", "style.css")  # fmt: skip
_HTTPS_URL = re.compile(r"https://[A-Za-z0-9.\-]+(:\d+)?/[^\s\"'<>;,]*")


class PagesOptions(BaseModel):
    """Branding of the sign-in, error, forbidden and signed-out pages (web/pages.py)."""

    provider_display_name: str = Field(
        "",
        description=(
            "the name on the sign-in button (\"Sign in with …\") and in the pages' sentences"
        ),
        json_schema_extra={"default_note": (
            "(by `provider`: `OpenID Connect`, `GitHub`, `Google`, `Microsoft Entra ID`, "
            "`GitLab`, `Keycloak`)"
        )},
    )
    banner: str = Field(
        "",
        description=(
            "text above the sign-in button. Plain text, shown escaped (oauth2-proxy inserts HTML; for "
            "markup use `custom_templates_dir`)"
        ),
        json_schema_extra={"default_note": "(none; `-` too)"},
    )
    footer: str = Field(
        "",
        description=(
            "text at the foot of every page, plain text"
        ),
        json_schema_extra={"default_note": "(`Secured by authsvc`; `-` = none)"},
    )
    custom_sign_in_logo: str = Field(
        "",
        description=(
            "a `.png`, `.jpg`, `.svg`, `.gif` or `.webp` file (≤ 256 KB, inlined as a `data:` URI) or an "
            "`https://` URL (then the only other origin the pages load from); shown on every page"
        ),
        json_schema_extra={"default_note": "(none; `-` too)"},
    )
    custom_templates_dir: str = Field(
        "",
        description=(
            "a directory of Jinja2 templates that replace authsvc's of the same name (`sign_in.html`, "
            "`error.html`, `forbidden.html`, `signed_out.html`, `base.html`, `style.css`, …); checked at "
            "start-up. Names and variables: [docs/pages.md](docs/pages.md)"
        ),
    )

    @field_validator("provider_display_name")
    @classmethod
    def _pages_name(cls, value: str) -> str:
        if _CONTROL.search(value) or "\n" in value or len(value) > 100:
            raise ValueError("must be one line of at most 100 characters")
        return value.strip()

    @field_validator("banner", "footer")
    @classmethod
    def _pages_text(cls, value: str, info: ValidationInfo) -> str:
        if _CONTROL.search(value) or len(value) > 2000:
            raise option_error(str(info.field_name), "must be text of at most 2000 characters "
                               "(no control characters; it is shown as text, not HTML)")
        return value.strip()

    @field_validator("custom_sign_in_logo")
    @classmethod
    def _pages_logo(cls, value: str) -> str:
        value = value.strip()
        if value in ("", "-"):
            return value
        if value.startswith("http://"):
            raise ValueError("an http:// logo would be blocked as mixed content; use https:// or a file")
        if value.startswith("https://"):
            if not _HTTPS_URL.fullmatch(value):
                raise ValueError("is not a plain https URL (https://host/path)")
            return value
        path = Path(value)
        kind = LOGO_TYPES.get(path.suffix.lower())
        if kind is None:
            raise ValueError(f"use a {', '.join(sorted(LOGO_TYPES))} file or an https:// URL")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ValueError(f"cannot be read: {exc.strerror}") from None
        if size > LOGO_MAX_BYTES:
            raise ValueError(f"is {size} bytes; at most {LOGO_MAX_BYTES} (every page inlines it)")
        return value

    @field_validator("custom_templates_dir")
    @classmethod
    def _pages_templates(cls, value: str) -> str:
        if not value:
            return value
        if not Path(value).is_dir():
            raise ValueError("is not a directory")
        problem = template_syntax_problem(Path(value))
        if problem:
            raise ValueError(problem)
        return value


def template_syntax_problem(folder: Path) -> str:
    """The first syntax error among the templates in `folder` (so check-config reports it, in
    one line); web/pages.py renders each one at start-up for the rest (unknown variables)."""
    env = jinja2.Environment(autoescape=True)
    for name in TEMPLATE_NAMES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            env.parse(path.read_text(encoding="utf-8"), name=name)
        except (OSError, UnicodeDecodeError) as exc:
            return f"{name} cannot be read: {exc}"
        except jinja2.TemplateSyntaxError as exc:
            hint = ""
            if "{{." in (exc.source or "").replace(" ", ""):
                hint = " (an oauth2-proxy Go template? authsvc's are Jinja2: see docs/pages.md)"
            return f"{name} line {exc.lineno}: {exc.message}{hint}"
    return ""
