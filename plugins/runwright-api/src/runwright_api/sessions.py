"""Who may use the server: the token, the sessions a sign-in opens, and the throttle on guesses.

A session id is random for each sign-in and lives only in this process's memory (a restart signs
everyone out), so it can expire and be ended by signing out, unlike a value derived from the
token. Ids are kept hashed, so a lookup reveals nothing about the stored ids through timing.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from enum import Enum

MIN_TOKEN_LENGTH = 16
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 1000
MAX_FAILED_SIGN_INS = 5
FAILED_SIGN_IN_WINDOW_SECONDS = 60.0
MAX_TRACKED_CLIENTS = 10_000


class TokenTooShort(ValueError):
    """A token an attacker could guess; the message never holds the token itself."""


def check_token_length(token: str, source: str = "the API token") -> None:
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenTooShort(
            f"{source} is {len(token)} characters long; use at least {MIN_TOKEN_LENGTH} characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))' makes one)"
        )


def new_token() -> str:
    """A token for a server started without one (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class TokenCheck(Enum):
    RIGHT = "right"
    WRONG = "wrong"
    THROTTLED = "throttled"


class SignInThrottle:
    """At most ``max_failures`` wrong tokens per client address in a sliding window; past that,
    every attempt from that address (right or wrong) is refused until the window has passed."""

    def __init__(
        self,
        max_failures: int = MAX_FAILED_SIGN_INS,
        window_seconds: float = FAILED_SIGN_IN_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again; 0 when it may try now."""
        with self._lock:
            times = self._recent(client)
            if len(times) < self.max_failures:
                return 0
            return max(1, math.ceil(times[0] + self.window_seconds - self.clock()))

    def failed(self, client: str) -> None:
        with self._lock:
            times = self._recent(client)
            times.append(self.clock())
            while len(times) > self.max_failures:
                times.popleft()
            self._failures[client] = times
            self._failures.move_to_end(client)
            while len(self._failures) > MAX_TRACKED_CLIENTS:
                self._failures.popitem(last=False)

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.get(client, deque())
        cutoff = self.clock() - self.window_seconds
        while times and times[0] <= cutoff:
            times.popleft()
        return times


class SessionStore:
    """Random session ids with an expiry, in memory; at most ``max_sessions`` (oldest go first)."""

    def __init__(
        self,
        seconds: float = SESSION_SECONDS,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.max_sessions = max_sessions
        self.clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()

    def open(self) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            for key in [k for k, expiry in self._expiry.items() if expiry <= now]:
                del self._expiry[key]
            while len(self._expiry) >= self.max_sessions:
                self._expiry.popitem(last=False)
            self._expiry[self._key(session_id)] = now + self.seconds
        return session_id

    def valid(self, session_id: str) -> bool:
        key = self._key(session_id)
        with self._lock:
            expiry = self._expiry.get(key)
            if expiry is None:
                return False
            if expiry <= self.clock():
                del self._expiry[key]
                return False
            return True

    def close(self, session_id: str) -> None:
        with self._lock:
            self._expiry.pop(self._key(session_id), None)


class Access:
    """The server's token with its sessions and throttle; ``token=None`` means no sign-in at all."""

    def __init__(self, token: str | None, session_seconds: float = SESSION_SECONDS) -> None:
        if token is not None:
            check_token_length(token)
        self.token = token
        self.sessions = SessionStore(session_seconds)
        self.throttle = SignInThrottle()

    @property
    def required(self) -> bool:
        return self.token is not None

    def check(self, given: str, client: str) -> TokenCheck:
        """Compare ``given`` with the token in constant time; count it when wrong."""
        if self.throttle.retry_after(client):
            return TokenCheck.THROTTLED
        if self.token is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            return TokenCheck.RIGHT
        self.throttle.failed(client)
        return TokenCheck.WRONG
