"""authenticated_emails_file: parsed like oauth2-proxy's, re-read when it changes, cheaply."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from authsvc.check.emails_file import CHECK_INTERVAL, EmailsFile, parse_emails
from authsvc.errors import ConfigError
from tests.support.fake_idp import ManualClock


def test_parse() -> None:
    text = '# people\nAda@Example.com,Ada Lovelace\n\n "bob@x.org" ,x\n  # carol@x.org\r\neve@x.org\r\n'
    assert parse_emails(text) == {"ada@example.com", "bob@x.org", "eve@x.org"}


def test_a_byte_order_mark_is_not_part_of_the_first_address(tmp_path: Path) -> None:
    path = tmp_path / "emails"
    path.write_bytes("\ufeffada@example.com\n".encode())
    assert "ada@example.com" in EmailsFile(str(path), ManualClock())


def _write(path: Path, text: str, mtime: int) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_reloaded_when_it_changes_checked_at_most_once_per_interval(tmp_path: Path) -> None:
    path = tmp_path / "emails"
    _write(path, "ada@example.com\n", 1000)
    clock = ManualClock()
    emails = EmailsFile(str(path), clock)
    assert "ada@example.com" in emails
    _write(path, "bob@example.com\n", 2000)
    # within the interval the old list still answers (no stat per request)
    assert "ada@example.com" in emails
    clock.advance(CHECK_INTERVAL)
    assert "bob@example.com" in emails
    assert "ada@example.com" not in emails


def test_same_mtime_but_new_size_is_a_change(tmp_path: Path) -> None:
    path = tmp_path / "emails"
    _write(path, "ada@example.com\n", 1000)
    clock = ManualClock()
    emails = EmailsFile(str(path), clock)
    _write(path, "ada@example.com\nbob@example.com\n", 1000)
    clock.advance(CHECK_INTERVAL)
    assert "bob@example.com" in emails


def test_a_vanished_file_keeps_the_last_list(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "emails"
    _write(path, "ada@example.com\n", 1000)
    clock = ManualClock()
    emails = EmailsFile(str(path), clock)
    path.unlink()
    clock.advance(CHECK_INTERVAL)
    assert "ada@example.com" in emails
    assert "keeping the last list" in caplog.text
    _write(path, "bob@example.com\n", 3000)  # an editor's rename-and-replace lands
    clock.advance(CHECK_INTERVAL)
    assert "bob@example.com" in emails


def test_an_unreadable_file_at_start_up_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="authenticated_emails_file"):
        EmailsFile(str(tmp_path / "missing"), ManualClock())
