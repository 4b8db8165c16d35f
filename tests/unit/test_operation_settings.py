"""The operation options: validated at start-up, one line naming the option."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.errors import ConfigError
from tests.conftest import make_settings


def test_defaults() -> None:
    s = make_settings()
    assert (s.metrics_address, s.log_format, s.log_level, s.log_requests) == ("", "json", "info", False)
    assert (s.workers, s.shutdown_timeout) == (1, 25.0)


def test_values_are_read_leniently() -> None:
    s = make_settings(log_level="WARNING", log_format=" Text ", shutdown_timeout="1m30s", workers="4",
                      metrics_address="0.0.0.0:9090")
    assert (s.log_level, s.log_format, s.shutdown_timeout, s.workers) == ("warning", "text", 90.0, 4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "invalid option workers (AUTHSVC_WORKERS): 0 is not between 1 and 64"),
        ({"workers": 65}, "invalid option workers (AUTHSVC_WORKERS)"),
        ({"shutdown_timeout": "0s"}, "invalid option shutdown_timeout (AUTHSVC_SHUTDOWN_TIMEOUT)"),
        ({"shutdown_timeout": "2h"}, "at most 1h"),
        ({"shutdown_timeout": "soon"}, "is not a duration"),
        ({"log_format": "xml"}, "invalid option log_format (AUTHSVC_LOG_FORMAT): 'xml' is not one of"),
        ({"log_level": "loud"}, "invalid option log_level (AUTHSVC_LOG_LEVEL)"),
        ({"metrics_address": "9090"}, "invalid option metrics_address (AUTHSVC_METRICS_ADDRESS)"),
        ({"metrics_address": "0.0.0.0:4180"}, "must use another port (or socket) than http_address"),
    ],
)
def test_bad_values_name_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(**options)
    assert message in str(caught.value)
