"""Warnings about settings that are valid but will not work as meant.

One line each: check-config prints them, `serve` logs them at start-up. `PlainHttpLogin` is the
one warning given at run time (once per process), when a login starts over plain http while the
login cookie is Secure.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .loading import ENV_PREFIX, list_items, looks_like_placeholder, one_repeated_character
from .settings import Settings

log = logging.getLogger("authsvc.login")

#: secrets other than cookie_secret (a placeholder there is refused: config/cookies.py); a
#: placeholder here fails at the IdP or Redis, not in authsvc, so it is a warning
SECRETS = ("client_secret", "basic_auth_password", "redis_password", "redis_sentinel_password",
           "github_token")
#: list options whose entries are regexes: brackets and quotes are theirs to use
_REGEX_LISTS = frozenset({"skip_auth_routes", "api_routes", "login_url_parameters_allowed"})
_LISTS = frozenset(name for name, f in Settings.model_fields.items()
                   if str(f.annotation).startswith("list[str]"))


def _where(option: str, origins: Mapping[str, str]) -> str:
    return origins.get(option) or f"{ENV_PREFIX}{option.upper()}"


def value_warnings(values: Mapping[str, Any], origins: Mapping[str, str]) -> list[str]:
    """Warnings about the values as given, valid or not (check-config shows them with errors)."""
    out = []
    for option in SECRETS:
        value = values.get(option)
        if isinstance(value, str) and (looks_like_placeholder(value) or one_repeated_character(value)):
            out.append(placeholder_warning(option, origins))
    cookie_secrets = values.get("cookie_secret", [])
    if isinstance(cookie_secrets, str):
        cookie_secrets = list_items(cookie_secrets)
    if isinstance(cookie_secrets, list) and any(one_repeated_character(str(s)) for s in cookie_secrets):
        out.append(f"cookie_secret ({_where('cookie_secret', origins)}) is one character repeated: "
                   "anyone can guess it; make one with `authsvc generate-secret`")
    for option in sorted(_LISTS - _REGEX_LISTS):
        if option in values and (entry := _json_looking_entry(values[option])) is not None:
            out.append(f"{option} ({_where(option, origins)}): the entry {entry!r} looks like part of a "
                       "JSON list or a quoted string; write a comma-separated list (a.com,b.com) or a "
                       'JSON array of strings (["a.com","b.com"])')
    return out


def placeholder_warning(option: str, origins: Mapping[str, str]) -> str:
    """The warning for a secret whose value looks like a stand-in (the value is not repeated)."""
    return (f"{option} ({_where(option, origins)}) looks like a placeholder, not a secret: put in "
            "the real one")


def _json_looking_entry(value: object) -> str | None:
    items = list_items(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        return None
    for item in items:
        text = str(item).strip()
        if _ipv6_literal(text):
            continue
        if text[:1] in "[\"'" or text[-1:] in "]\"'":
            return text
    return None


def _ipv6_literal(text: str) -> bool:
    """[::1] or [::1]:8080 (whitelist_domains, addresses): brackets of their own."""
    inside, sep, rest = text.removeprefix("[").partition("]")
    if not text.startswith("[") or not sep or (rest and not rest.lstrip(":").isdigit()):
        return False
    try:
        ipaddress.IPv6Address(inside)
    except ValueError:
        return False
    return True


def settings_warnings(settings: Settings, origins: Mapping[str, str]) -> list[str]:
    """Warnings about valid settings that will not work as meant."""
    out = []
    if not settings.email_domains and not settings.authenticated_emails_file and not settings.htpasswd_file:
        out.append("email_domains is empty and no authenticated_emails_file or htpasswd_file is set: "
                   "nobody can sign in (every login ends in 403); list the allowed domains "
                   '(email_domains = ["example.com"]), or "*" for any verified address')
    from_file = settings.client_secret.get_secret_value() if "client_secret" not in origins else ""
    if from_file and (looks_like_placeholder(from_file) or one_repeated_character(from_file)):
        out.append(placeholder_warning("client_secret_file", origins))
    redirect = urlsplit(settings.redirect_url)
    if settings.cookie_secure and redirect.scheme == "http" and not is_loopback(redirect.hostname or ""):
        out.append(f"cookie_secure is on but redirect_url ({_where('redirect_url', origins)}) is plain "
                   "http: browsers drop Secure cookies there, so every login fails; serve it over "
                   "https, or set cookie_secure = false for plain-http development only")
    return out


def is_loopback(host: str) -> bool:
    """localhost, *.localhost and loopback addresses: browsers keep Secure cookies set there over
    plain http (W3C Secure Contexts §3.2, "potentially trustworthy"); elsewhere they drop them."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host: str) -> str:
    """The name of a Host header's value, without its port."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class PlainHttpLogin:
    """Warns once per process when a login starts over plain http with cookie_secure on.

    The browser drops the Secure login cookie, so the callback finds no login in progress; the
    log said only that, for every attempt, without the cause.
    """

    def __init__(self, cookie_secure: bool) -> None:
        self._armed = cookie_secure

    def check(self, scheme: str, host: str) -> None:
        """Called by /oauth2/start with the scheme and host the browser used."""
        if not self._armed or scheme != "http" or is_loopback(_hostname(host)):
            return
        self._armed = False
        log.warning(
            "a login started over plain http (http://%s) while cookie_secure is on: the browser drops "
            "the Secure login cookie and the login fails; serve it over https (behind a proxy that "
            "terminates TLS, have it send X-Forwarded-Proto: https), or set cookie_secure = false "
            "for plain-http development only. This warning is given once.", host,
            extra={"host": host},
        )
