"""Keep bearer secrets out of everything printed.

API keys and whole websocket/listen/control URLs let anyone join or steer a call, and so
does a live call's id (the URLs are the id under a known host). Every secret the program
learns is registered here, and a logging filter replaces it wherever it appears, in
messages, arguments and exception text. A call's secrets are released when the call is
over (`release`), so in a daemon that places call after call the registry stays the size
of one call and masking a log line costs the same on the 10,000th call as on the first
(`benchmarks/redact.py`); any URL with a path, released or never registered, is still
shortened to its scheme and host (`scrub_urls`).
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit

_URL_RE = re.compile(r"\b(?:wss?|https?)://[^\s'\"<>]+")


class SecretRegistry:
    """Secrets and what to show instead, kept longest first (a URL before its path)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shown: dict[str, str] = {}
        self._ordered: tuple[tuple[str, str], ...] = ()

    def __len__(self) -> int:
        return len(self._shown)

    def add(self, secret: str, shown: str) -> None:
        with self._lock:
            if self._shown.get(secret) != shown:
                self._shown[secret] = shown
                self._reorder()

    def remove(self, secret: str) -> None:
        with self._lock:
            if self._shown.pop(secret, None) is not None:
                self._reorder()

    def remove_containing(self, fragment: str) -> None:
        with self._lock:
            for secret in [s for s in self._shown if fragment in s]:
                del self._shown[secret]
            self._reorder()

    def _reorder(self) -> None:
        self._ordered = tuple(sorted(self._shown.items(), key=lambda kv: -len(kv[0])))

    def mask(self, text: str) -> str:
        for secret, shown in self._ordered:  # one immutable snapshot: no lock, no sort
            if secret in text:
                text = text.replace(secret, shown)
        return text


_registry = SecretRegistry()


def register(secret: str | None, label: str = "secret", *, shown: str | None = None) -> None:
    """Remember a secret so that it is masked (as `<label>`, or `shown`) from now on."""
    if not secret or len(secret) < 6:
        return
    _registry.add(secret, shown if shown is not None else f"<{label}>")


def release(secret: str | None) -> None:
    """Stop masking a secret that no longer opens anything (its call is over)."""
    if secret:
        _registry.remove(secret)


def release_call(call_id: str) -> None:
    """Release a call's id and every secret that holds it (its URLs, however learnt)."""
    if len(call_id) >= 6:
        _registry.remove_containing(call_id)


def _url_parts(url: str) -> list[str]:
    path = urlsplit(url).path
    return [url, path] if len(path) > 12 else [url]


def register_url(url: str | None, label: str) -> None:
    """Register a bearer URL: the whole URL and its path (which carries the call token)."""
    for part in _url_parts(url) if url else []:
        register(part, label)


def release_url(url: str | None) -> None:
    for part in _url_parts(url) if url else []:
        release(part)


def registered() -> int:
    """How many secrets are masked now (a call's are released when it is over)."""
    return len(_registry)


def mask(text: str) -> str:
    return _registry.mask(text)


def describe_url(url: str) -> str:
    """A URL safe to print: scheme and host only (`?` for a host that does not parse: a
    bad port or bracket in server text must not raise)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        host = parts.hostname or "?"
    except ValueError:
        return f"{url.split(':', 1)[0]}://?/…"
    return f"{parts.scheme}://{host}{port}/…"


def _shortened(url: str) -> str:
    try:
        long_path = len(urlsplit(url).path) > 1
    except ValueError:  # unparseable: shown as scheme only, whatever it held
        long_path = True
    return describe_url(url) if long_path else url


def scrub_urls(text: str) -> str:
    """Mask registered secrets, then shorten any remaining URL with a long path. Never
    raises, whatever the text."""
    return _URL_RE.sub(lambda m: _shortened(m.group(0)), mask(text))


class RedactingFilter(logging.Filter):
    """Applied to every handler: formats the record once, then masks it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not kill logging
            message = str(record.msg)
        record.msg = scrub_urls(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub_urls(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
