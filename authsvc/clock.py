"""Injected time and randomness, so tests never sleep and never guess."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

Clock = Callable[[], float]
Random = Callable[[int], bytes]

system_clock: Clock = time.time
system_random: Random = secrets.token_bytes
