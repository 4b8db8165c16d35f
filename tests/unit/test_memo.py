"""authsvc/memo.py: the bounded memo every hot-path cache uses."""

from __future__ import annotations

from authsvc.check.forwarded import Forwarded
from authsvc.memo import BoundedMemo
from tests.conftest import make_settings


def test_it_never_holds_more_than_its_size_and_forgets_all_when_full() -> None:
    memo: BoundedMemo[int, str] = BoundedMemo(3)
    assert [memo.put(i, str(i)) for i in range(3)] == ["0", "1", "2"]
    assert memo.data == {0: "0", 1: "1", 2: "2"}
    assert memo.data.get(1) == "1" and len(memo) == 3
    memo.put(3, "3")  # full: everything else is forgotten, never only some
    assert memo.data == {3: "3"}
    memo.clear()
    assert len(memo) == 0


def test_a_spray_of_addresses_pins_at_most_the_size() -> None:
    fw = Forwarded(make_settings(trusted_proxy_ips=["10.0.0.0/8"]))
    for i in range(10_000):
        fw.is_trusted(f"192.0.2.{i % 250}:{i}")
        fw.is_trusted(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert 0 < len(fw._trust) <= fw._trust.size
    assert fw.is_trusted("10.0.0.1") and not fw.is_trusted("192.0.2.1")
