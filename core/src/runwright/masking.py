"""Masking of secret values in everything printed or stored.

A value becomes secret when

- the process environment holds it under a name that marks a secret (:func:`is_secret_name`:
  the name contains KEY, TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE or CREDENTIAL), or under a
  name listed in ``RUNWRIGHT_SECRETS`` (comma separated); these are registered when the runtime
  starts, whether or not a template ever names them, because a script can print ``$MY_PASSWORD``;
- a template substitutes it from such a variable with ``${VAR}`` (also registered then);
- a call function receives it as a ``SecretStr``, or a plugin registers it (an OAuth token).

The value still reaches the stage that uses it; every log line, trace event, CLI output and audit
record goes through :func:`mask` first. Besides the value itself, its common encodings are masked
(:func:`encodings`): base64 (standard and URL-safe, at each of the three alignments inside a longer
base64 text), URL-encoding, JSON string escaping, hex, Python's ``repr``/``ascii``, each line of a
multi-line value (a PEM key) and the text of the number a value holds; an ``int`` or ``float``
equal to a numeric secret is masked whole; a secret split by terminal control codes is masked in
the text those codes leave (a string holding such codes is checked again without them). Values shorter than
:data:`MIN_SECRET_LENGTH` are not masked (they would mask digits of run ids and dates); a warning
names the variable instead. What cannot be masked is listed in ``docs/security.md``.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

SECRET_NAME_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL")
SECRETS_LIST_VARIABLE = "RUNWRIGHT_SECRETS"
MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not masked: ``2`` would turn every run id into ``***0***611...``."""
MIN_ENCODED_LENGTH = 6
"""A fragment of an encoding shorter than this is not masked (too likely to occur by chance)."""


SETTINGS_ABOUT_SECRETS = frozenset(
    {
        "RUNWRIGHT_SECRETS",
        "RUNWRIGHT_SECRETS_DIR",
        "RUNWRIGHT_AWS_SECRETS_PREFIX",
        "RUNWRIGHT_AWS_SECRETS_CACHE_SECONDS",
    }
)
"""Settings whose names hold SECRET but whose values say where secrets are (a folder, a
prefix): masking them would hide those words in every message that names where it looked."""


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name marks its value as a secret."""
    upper = name.upper()
    return upper not in SETTINGS_ABOUT_SECRETS and any(marker in upper for marker in SECRET_NAME_MARKERS)


def _base64_fragments(raw: bytes) -> set[str]:
    """The base64 text of ``raw`` wherever it sits in a longer base64 stream.

    At alignment ``k`` (0, 1 or 2 bytes before it in its 3-byte group) the characters that
    encode only ``raw``'s bits are fixed whatever surrounds it; those are the fragment.
    """
    import base64  # only once a secret is registered: every command imports this module

    fragments: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        fragments.add(encode(raw).decode("ascii"))  # the whole value, padding included
        for offset in range(3):
            text = encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
            first = -(-8 * offset // 6)  # first character made only of raw's bits
            last = 8 * (offset + len(raw)) // 6  # characters before this one end inside raw
            fragments.add(text[first:last])
    return fragments


def encodings(value: str) -> set[str]:
    """``value`` and the forms it commonly takes in output: base64, URL, JSON, hex, Python's
    ``repr``/``ascii`` (in either quoting), each line of a multi-line value, and the text of
    the number it holds (``007`` is printed ``7`` once it is an int)."""
    import json  # only once a secret is registered: every command imports this module
    import urllib.parse  # (with the ipaddress module it imports, ~3 ms of `runwright --help`)

    raw = value.encode("utf-8")
    forms = {value, raw.hex(), raw.hex().upper()}
    forms |= _base64_fragments(raw)
    forms.add(urllib.parse.quote(value, safe=""))
    forms.add(urllib.parse.quote_plus(value, safe=""))
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms |= python_literal_forms(value)
    forms |= numeric_forms(value)
    lines = {line.strip() for line in value.splitlines()} - {value}
    for line in lines:
        if len(line) >= MIN_ENCODED_LENGTH:
            forms |= encodings(line)  # a PEM key printed line by line
    return {form for form in forms if form == value or len(form) >= MIN_ENCODED_LENGTH}


def python_literal_forms(value: str) -> set[str]:
    """The inside of ``repr(value)`` and ``ascii(value)``, quoted with ' or with ".

    Python picks the quote: a value holding ``'`` (and no ``"``) is shown in double quotes as it
    is; holding both, in single quotes with ``\\'`` escapes. Both are listed, whichever applies.
    """
    forms = set()
    for show in (repr, ascii):
        forms.add(show(value)[1:-1])
        forms.add(show(value + "'\"")[1:-4])  # forces single quotes: ' escaped as \'
    return forms


def numeric_forms(value: str) -> set[str]:
    """How a secret that is a number is printed once converted (an ``int`` param's ``007``)."""
    text = value.strip()
    forms = set()
    try:
        forms.add(str(int(text)))
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return forms
    if math.isfinite(number):
        forms.add(repr(number))
        if number.is_integer():
            forms.add(str(int(number)))
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Masker:
    """A thread-safe set of secret values and a compiled pattern that replaces them.

    A value is kept for the life of the process (:meth:`keep`: the environment's secrets,
    bounded by it) or held by runs (:meth:`hold`, counted: a value two live runs use stays
    until both released it, :class:`RunSecrets`); :meth:`add` holds it for the run active on
    this thread, if any, and keeps it otherwise.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._held: dict[str, int] = {}
        self._pending: deque[tuple[str, ...]] = deque()
        """Releases not applied yet (see :meth:`release`)."""
        self._forms_of: dict[str, frozenset[str]] = {}
        self._warned: set[str] = set()
        self._masked: tuple[re.Pattern[str], dict[str, str], frozenset[str]] | None = None
        """The pattern, the short strings already masked with it and the texts of secret numbers
        (one attribute: read at once)."""

    def add(self, value: str, name: str | None = None) -> bool:
        """Mark ``value`` (and its encodings) as secret: for the run active on this thread
        (:data:`ACTIVE_RUN_SECRETS`) while it lives, else for the life of the process.

        Empty values are ignored; values under :data:`MIN_SECRET_LENGTH` characters are not
        masked and a warning names ``name`` (the variable or argument it came from); whether
        it will be masked.
        """
        run = ACTIVE_RUN_SECRETS.get()
        if run is not None and run.masker is self:
            return run.add(value, name)
        return self.keep(value, name)

    def keep(self, value: str, name: str | None = None) -> bool:
        """Mark ``value`` as secret for the life of the process; whether it will be masked."""
        if not self._maskable(value, name):
            return False
        if value in self._values:
            return True
        with self._lock:
            self._values.add(value)
            self._rebuild()
            self._release_pending()
        return True

    def hold(self, value: str, name: str | None = None) -> bool:
        """Mark ``value`` as secret until :meth:`release`; holds are counted."""
        if not self._maskable(value, name):
            return False
        with self._lock:
            count = self._held.get(value, 0)
            self._held[value] = count + 1
            if count == 0 and value not in self._values:
                self._rebuild()
            self._release_pending()
        return True

    def release(self, values: Iterable[str], wait: bool = True) -> None:
        """End one hold of each of ``values``: no longer masked once no run holds it (unless
        the process keeps it).

        ``wait=False`` (a run's state collected by the garbage collector, on whatever thread,
        maybe one inside this masker): never waits for the lock; when it is taken, the release
        is done by whoever holds it, on its way out.
        """
        self._pending.append(tuple(values))
        if self._lock.acquire(blocking=wait):
            try:
                self._release_pending()
            finally:
                self._lock.release()

    def _release_pending(self) -> None:
        """Apply the releases waiting in ``_pending`` (called with the lock held)."""
        gone = False
        while self._pending:
            for value in self._pending.popleft():
                count = self._held.get(value, 0)
                if count > 1:
                    self._held[value] = count - 1
                elif count == 1:
                    del self._held[value]
                    gone = gone or value not in self._values
        if gone:
            self._rebuild()

    def _maskable(self, value: str, name: str | None) -> bool:
        if not value:
            return False
        if len(value) < MIN_SECRET_LENGTH:
            self._warn_short(name)
            return False
        return True

    def _rebuild(self) -> None:
        """Compile the pattern for the secrets known now (called with the lock held)."""
        live = self._values | self._held.keys()
        for value in self._forms_of.keys() - live:
            del self._forms_of[value]
        forms: set[str] = set()
        numbers: set[str] = set()
        for value in live:
            known = self._forms_of.get(value)
            if known is None:
                known = self._forms_of[value] = frozenset(encodings(value))
            forms |= known
            numbers |= numeric_forms(value)
        if not forms:
            self._masked = None
            return
        ordered = sorted(forms, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(v) for v in ordered))
        self._masked = (pattern, {}, frozenset(numbers))

    def _warn_short(self, name: str | None) -> None:
        label = name or "a secret value"
        with self._lock:
            if label in self._warned:
                return
            self._warned.add(label)
        import logging  # only to warn: every command imports this module first thing

        logging.getLogger("runwright.masking").warning(
            "%s holds a secret shorter than %d characters; it is not masked "
            "(a value this short would mask unrelated text)",
            label,
            MIN_SECRET_LENGTH,
        )

    def values(self) -> tuple[str, ...]:
        """The secrets known here, to hand to another process that runs part of a run."""
        with self._lock:
            self._release_pending()
            return tuple(self._values | self._held.keys())

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._held.clear()
            self._pending.clear()
            self._forms_of.clear()
            self._warned.clear()
            self._masked = None

    def mask(self, value: Any) -> Any:
        """Return ``value`` with every secret replaced by ``***``, recursing into containers."""
        masked = self._masked
        if masked is None:
            return value
        return _mask(value, *masked)


class RunSecrets:
    """The secrets one run registered: masked everywhere (every thread, every output of the
    process) while the run lives, released when it ends.

    Released by :meth:`close`, or when the last reference goes: the run's state and its
    :class:`~runwright.engine.result.Result` hold it, so a Result shown after its run ended
    is still masked. The same value held by two live runs stays until both are released.
    """

    def __init__(self, masker: Masker | None = None) -> None:
        self.masker = masker or MASKER
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._release = weakref.finalize(self, self.masker.release, self._values, wait=False)

    def add(self, value: str, name: str | None = None) -> bool:
        """Hold ``value`` as secret for this run; whether it will be masked."""
        with self._lock:
            if value in self._values:
                return True
            if not self._release.alive:  # already released: a late add lives with the process
                return self.masker.keep(value, name)
            held = self.masker.hold(value, name)
            if held:
                self._values.add(value)
            return held

    def close(self) -> None:
        """Release this run's secrets now (at most once)."""
        with self._lock:
            if self._release.detach() is not None:
                self.masker.release(self._values)

    @contextmanager
    def active(self) -> Iterator[RunSecrets]:
        """Make :meth:`Masker.add` on this thread (and threads started from its context) hold
        for this run."""
        token = ACTIVE_RUN_SECRETS.set(self)
        try:
            yield self
        finally:
            ACTIVE_RUN_SECRETS.reset(token)


ACTIVE_RUN_SECRETS: ContextVar[RunSecrets | None] = ContextVar("runwright_run_secrets", default=None)
"""The run a secret registered here belongs to (None: the process keeps it)."""


REMEMBERED_LENGTH = 256
"""Strings up to this length are masked once per secret set: keys, run ids, job and stage names
repeat in every trace event."""
REMEMBERED_STRINGS = 4096


def _mask(value: Any, pattern: re.Pattern[str], seen: dict[str, str], numbers: frozenset[str]) -> Any:
    if isinstance(value, str):
        return seen.get(value) or _mask_text(value, pattern, seen)
    if isinstance(value, dict):
        return {
            _mask_key(k, pattern, seen, numbers): (
                (seen.get(v) or _mask_text(v, pattern, seen))
                if type(v) is str
                else _mask(v, pattern, seen, numbers)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask(v, pattern, seen, numbers) for v in value]
    if numbers and type(value) in (int, float) and repr(value) in numbers:
        return MASK  # an int or float param whose value came from a secret
    return value


def _mask_key(key: Any, pattern: re.Pattern[str], seen: dict[str, str], numbers: frozenset[str]) -> Any:
    if type(key) is str:
        return seen.get(key) or _mask_text(key, pattern, seen)
    return _mask(key, pattern, seen, numbers)


CONTROL_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
    r"|[\x00-\x08\x0b-\x1f\x7f]"  # other control characters (tab and newline stay)
)
"""What a terminal does not show, or what a later step strips (click strips ANSI codes when
output is not a terminal): a secret split by these prints whole."""


def _mask_text(value: str, pattern: re.Pattern[str], seen: dict[str, str]) -> str:
    masked = pattern.sub(MASK, value)
    if CONTROL_SEQUENCE.search(masked):  # mask what is shown, after the codes are gone, too
        visible = CONTROL_SEQUENCE.sub("", masked)
        hidden = pattern.sub(MASK, visible)
        if hidden != visible:
            masked = hidden
    if len(value) <= REMEMBERED_LENGTH:
        if len(seen) >= REMEMBERED_STRINGS:
            seen.clear()
        seen[value] = masked
    return masked


MASKER = Masker()
"""The process-wide masker: a secret seen by any template is masked in every output (a run's
own secrets while that run lives: :class:`RunSecrets`)."""


def mask(value: Any) -> Any:
    """Mask secrets in ``value`` (strings, and strings nested in dicts and lists)."""
    return MASKER.mask(value)


def listed_secret_names(environ: Mapping[str, str]) -> set[str]:
    """The names given in ``RUNWRIGHT_SECRETS`` (comma or whitespace separated)."""
    text = environ.get(SECRETS_LIST_VARIABLE, "")
    return {name for name in re.split(r"[\s,]+", text) if name}


def register_environment_secrets(environ: Mapping[str, str], masker: Masker = MASKER) -> list[str]:
    """Register every secret-looking or listed variable of ``environ``; the names registered."""
    listed = listed_secret_names(environ)
    names: Iterable[str] = sorted(n for n in environ if n in listed or is_secret_name(n))
    return [name for name in names if masker.keep(environ[name], name=f"environment variable {name}")]
