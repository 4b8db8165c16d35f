"""`authsvc migrate`: what becomes of each oauth2-proxy option, and the equivalent authsvc TOML."""

from __future__ import annotations

from .config.sources import ConfigInput


def run_migrate(given: ConfigInput, output: str | None) -> int:
    raise NotImplementedError
