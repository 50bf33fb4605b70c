"""Keep bearer secrets out of everything printed.

API keys and whole websocket/listen/control URLs let anyone join or steer a call. Every
secret the program learns is registered here, and a logging filter replaces it wherever
it appears, in messages, arguments and exception text.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit

_lock = threading.Lock()
_secrets: dict[str, str] = {}
_URL_RE = re.compile(r"\b(?:wss?|https?)://[^\s'\"<>]+")


def register(secret: str | None, label: str = "secret") -> None:
    """Remember a secret so that it is masked from now on."""
    if not secret or len(secret) < 6:
        return
    with _lock:
        _secrets[secret] = label


def register_url(url: str | None, label: str) -> None:
    """Register a bearer URL: the whole URL and its path (which carries the call token)."""
    if not url:
        return
    register(url, label)
    path = urlsplit(url).path
    if len(path) > 12:
        register(path, label)


def mask(text: str) -> str:
    with _lock:
        items = sorted(_secrets.items(), key=lambda kv: -len(kv[0]))
    for secret, label in items:
        if secret in text:
            text = text.replace(secret, f"<{label}>")
    return text


def describe_url(url: str) -> str:
    """A URL safe to print: scheme and host only."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/…"


def scrub_urls(text: str) -> str:
    """Mask registered secrets, then shorten any remaining URL with a long path."""
    text = mask(text)
    return _URL_RE.sub(lambda m: describe_url(m.group(0)) if len(urlsplit(m.group(0)).path) > 1
                       else m.group(0), text)


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
