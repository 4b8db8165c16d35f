"""Checking authsvc's pages in a real browser: what loaded, axe-core, screenshots, log lines.

`Watch` records, for one browser context, every request and main-frame document answer and
every console message (Chromium reports each Content-Security-Policy violation there).
`check_page` runs axe-core (npm, tests/a11y) on the page as the reader sees it, light and
dark, and writes a screenshot per view (desktop, phone, dark) into a folder. `log_record` finds
the authsvc log line of a request by its id.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Page, Request, Response, ViewportSize

from .processes import Process
from .tools import missing

AXE = Path(__file__).resolve().parent.parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
#: where screenshots go when AUTHSVC_SCREENSHOTS is unset: a folder under pytest's tmp dir
SCREENSHOTS_ENV = "AUTHSVC_SCREENSHOTS"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
#: axe's rule tags: WCAG 2.0-2.2 A and AA, and axe's best practices (landmarks, one h1...)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_source() -> str:
    """axe.min.js (skip/fail when `npm ci` has not run in tests/a11y)."""
    if not AXE.is_file():
        missing("npm package axe-core", "cd tests/a11y && npm ci")
    return AXE.read_text()


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Watch:
    """Requests, document answers and console lines of one browser context."""

    requests: list[tuple[str, str, bool]] = field(default_factory=list)  # (url, frame url, nav)
    documents: list[Response] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (page url, "type: text")

    def attach(self, context: BrowserContext, page: Page) -> None:
        def on_request(request: Request) -> None:
            self.requests.append((request.url, request.frame.url, request.is_navigation_request()))

        def on_response(response: Response) -> None:
            if response.request.resource_type == "document" and response.frame == page.main_frame:
                self.documents.append(response)

        context.on("request", on_request)
        page.on("response", on_response)
        page.on("console", lambda m: self.console.append((m.location.get("url", ""), f"{m.type}: {m.text}")))

    def loaded_from_elsewhere(self, page_origins: set[str]) -> list[str]:
        """Subresources that a page of `page_origins` asked for from another origin."""
        return [
            url for url, frame_url, nav in self.requests
            if not nav and origin(frame_url) in page_origins and origin(url) != origin(frame_url)
        ]  # fmt: skip

    def console_of(self, page_origins: set[str]) -> list[str]:
        """Console lines of pages of `page_origins` (a CSP violation would be one)."""
        return [text for url, text in self.console if origin(url) in page_origins]

    def subresources_of(self, page_origins: set[str]) -> list[str]:
        """Every non-navigation request a page of `page_origins` made (there should be none)."""
        return [url for url, frame_url, nav in self.requests if not nav and origin(frame_url) in page_origins]


def axe_violations(page: Page, source: str) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now. Injected with evaluate (the DevTools
    protocol), which the page's CSP does not govern, so the CSP stays as authsvc sent it."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    found = page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags},
               resultTypes: ['violations']})).violations.map(v => ({id: v.id, impact: v.impact,
               help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))""",
        AXE_TAGS,
    )
    return list(found)


def screenshots_dir(default: Path) -> Path:
    """$AUTHSVC_SCREENSHOTS, or `default`; created."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shoot(page: Page, path: Path) -> None:
    """A screenshot of the card and footer with a margin: the rest of a desktop view is empty
    background, and the committed set (docs/screenshots) should stay small."""
    box = page.evaluate(
        """() => { const a = document.querySelector('main').getBoundingClientRect();
                   const f = document.querySelector('footer') || document.querySelector('main');
                   const b = f.getBoundingClientRect();
                   return {x: Math.min(a.left, b.left), y: Math.min(a.top, b.top),
                           r: Math.max(a.right, b.right), b: Math.max(a.bottom, b.bottom)}; }"""
    )
    margin = 32
    x, y = max(0, box["x"] - margin), max(0, box["y"] - margin)
    clip = {"x": x, "y": y, "width": box["r"] + margin - x, "height": box["b"] + margin - y}
    page.screenshot(path=str(path), clip=clip, full_page=True)  # type: ignore[arg-type]


def check_page(page: Page, name: str, shots: Path, axe: str) -> None:
    """axe-core finds nothing, light and dark; styles applied (the CSP nonce matched);
    screenshots `<name>-desktop.png`, `-phone.png`, `-dark.png`."""
    radius = page.eval_on_selector("main", "e => getComputedStyle(e).borderTopLeftRadius")
    assert radius != "0px", f"{name}: the page's CSS did not apply (CSP?)"
    page.emulate_media(color_scheme="light")
    assert axe_violations(page, axe) == [], name
    _shoot(page, shots / f"{name}-desktop.png")
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(shots / f"{name}-phone.png"), full_page=True)
    assert axe_violations(page, axe) == [], f"{name} (phone)"
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="dark")
    assert axe_violations(page, axe) == [], f"{name} (dark)"
    _shoot(page, shots / f"{name}-dark.png")
    page.emulate_media(color_scheme="light")


def log_records(proc: Process) -> list[dict[str, Any]]:
    """Every JSON line the process logged (other lines skipped)."""
    out = []
    for line in proc.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def log_record(proc: Process, request_id: str, event_start: str) -> dict[str, Any]:
    """The one line of request `request_id` whose event starts with `event_start`."""
    mine = [r for r in log_records(proc) if r.get("request_id") == request_id]
    found = [r for r in mine if str(r.get("event", "")).startswith(event_start)]
    assert len(found) == 1, (request_id, event_start, [r.get("event") for r in log_records(proc)][-20:])
    return found[0]
