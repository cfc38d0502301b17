"""The server's sessions and sign-in throttle over time, on a clock the test moves."""

from __future__ import annotations

from pathlib import Path

import pytest
from runwright_api.sessions import SessionStore, SignInThrottle, TokenTooShort


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_throttled_address_may_try_again_once_the_window_has_passed() -> None:
    clock = Clock()
    throttle = SignInThrottle(max_failures=5, window_seconds=60, clock=clock)
    for _ in range(4):
        throttle.failed("10.0.0.1")
        clock.now += 1
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 56  # the first failure, 4 s ago, leaves in 56 s
    assert throttle.retry_after("10.0.0.2") == 0  # another address is not held back
    clock.now += 56
    assert throttle.retry_after("10.0.0.1") == 0


def test_sessions_expire_and_the_oldest_go_when_full() -> None:
    clock = Clock()
    store = SessionStore(seconds=100, max_sessions=3, clock=clock)
    first = store.open()
    clock.now += 50
    second, third = store.open(), store.open()
    assert len({first, second, third}) == 3
    assert all(store.valid(s) for s in (first, second, third))
    fourth = store.open()  # full: the oldest goes
    assert not store.valid(first) and store.valid(fourth)
    clock.now += 100
    assert not any(store.valid(s) for s in (second, third, fourth))
    store.close(store.open())
    assert not store.valid("anything")


def test_create_app_refuses_a_short_token(tmp_path: Path) -> None:
    from runwright_api.app import create_app
    from runwright_api.service import RunService

    (tmp_path / "conf").mkdir()
    service = RunService(tmp_path / "conf")
    try:
        with pytest.raises(TokenTooShort, match="at least 16 characters") as raised:
            create_app(service, token="x" * 15)
        assert "x" * 15 not in str(raised.value)
    finally:
        service.shutdown()
