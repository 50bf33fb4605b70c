"""SIGHUP (`systemctl reload`): the profile read again, between calls.

A reload asked for during a call (or while its goodbye plays out, or its summary is read)
waits for it to end; in `once` mode it is ignored, as the daemon exits after its call. A
profile that no longer loads is refused: the old one is kept, and every STATUS= line says
so until a reload succeeds. So is one that turns a running daemon to `once` mode (it would
wait, placing no call, and take no reload after: a restart does that). What the daemon
opened once, its control socket and the kiosk screen's address and token, changes only
with a restart: a reload that moves them says so, and the daemon keeps them (the profile it
runs keeps them too, so the next reload is compared with what is open: a reload again said
nothing of a move still not made, and one back to the open address warned that the daemon
kept the address the first had only named). A new
`log.level` is taken at once, unless -v/-q on the command line set the level. Each reload
ends with READY=1, as the sd_notify protocol asks."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from bridge.call import wiring
from bridge.errors import BridgeError
from bridge.inert import shortened
from bridge.profile import Profile, load_profile
from bridge.redact import scrub_urls
from bridge.service.logsetup import profile_level
from bridge.service.notify import Notifier
from bridge.vapi.api import VapiApi

log = logging.getLogger("bridge.daemon")


def failed_note(why: str) -> str:
    """Said in every STATUS= line (`ctl status`, `systemctl status`) until a reload succeeds:
    with its cause, as a daemon in a terminal has no journal to look in; as masked as the
    journal's line (a URL shortened to its host: `systemctl status` is anyone's to read);
    a long one loses its middle, keeping its cause and its fix (cut at 200 characters, it
    lost the fix: `… or the file's permissions`)."""
    return f" (reload failed: the old profile is kept — {shortened(scrub_urls(why), 200)})"


# what the daemon opened once (its control socket, the kiosk screen's address and token):
# a reload that moves one says so, and the daemon keeps it until a restart
RESTART_ONLY = (("service", "control_socket"), ("http", "listen"), ("http", "token_env"))


def _named(profile: Profile, section: str, key: str) -> Any:
    """A RESTART_ONLY setting as the warning names it (no socket named: by the profile's
    name)."""
    value = getattr(getattr(profile, section), key)
    if (section, key) == ("service", "control_socket") and not value:
        return f"the one named {profile.name}.sock"
    return value


class Reloads:
    """The profile's path and `--set` overrides, and the reload asked for, if any."""

    def __init__(self, path: str | None, overrides: list[str], notifier: Notifier) -> None:
        self.path, self.overrides, self.notifier = path, overrides, notifier
        self.pending = False
        self.note = ""  # a reload that failed: said in every STATUS= line
        self.applied = asyncio.Event()  # set by each reload applied

    def request(self, mode: str, busy: bool) -> bool:
        """A reload asked for; True when the profile is to be read now (no call `busy`)."""
        if mode == "once":  # it exits after its call: nothing to reload
            log.warning("reload ignored: the daemon is in once mode and exits after its call")
            return False
        self.pending = True
        log.info("reload requested: the profile is read again after the current call"
                 if busy else "reload requested")
        return not busy

    def refused(self, old: Profile, new: Profile) -> bool:
        """A profile the running daemon cannot take on (said; the old one is kept)."""
        if new.service.mode == "once" and old.service.mode != "once":
            log.error("reload refused, keeping the old profile: service.mode once places one "
                      "call and exits, which a running daemon does not turn into; restart it "
                      "(systemctl restart) to run the profile in once mode")
            self.note = failed_note("service.mode once takes a restart")
            return True
        for section, key in RESTART_ONLY:
            was, now = _named(old, section, key), _named(new, section, key)
            if was != now:
                log.warning("reload: %s.%s changed to %s, which takes a restart: the daemon "
                            "keeps %s until then", section, key, now or "off", was or "it off")
        if new.log.level != old.log.level:  # taken at once (the reload's own lines too)
            if profile_level(new.log.level):
                log.info("reload: log.level is now %s", new.log.level)
            else:
                log.warning("reload: log.level %s is not taken: -v/-q on the command line "
                            "sets the level until a restart", new.log.level)
        return False

    @staticmethod
    def kept(old: Profile, new: Profile) -> Profile:
        """`new` as the daemon runs it: with what it opened at start (`old`'s RESTART_ONLY
        settings), which only a restart changes."""
        kept: dict[str, dict[str, Any]] = {}
        for section, key in RESTART_ONLY:
            kept.setdefault(section, {})[key] = getattr(getattr(old, section), key)
        return replace(new, **{section: replace(getattr(new, section), **keys)
                               for section, keys in kept.items()})

    def due(self) -> bool:
        """A reload is pending (and the profile has a file to read again): taken now."""
        pending, self.pending = self.pending, False
        return pending and bool(self.path)

    def read(self) -> tuple[Profile, VapiApi] | None:
        """The profile read again, and its API client (base URL, key and timeouts may all
        have changed); None when it failed (said, and the note set)."""
        assert self.path is not None
        self.notifier.reloading("reloading the profile")
        try:
            new = load_profile(self.path, self.overrides)
            api = wiring.calling_api(new)
        except BridgeError as exc:
            log.error("reload failed, keeping the old profile: %s", exc)
            self.note = failed_note(str(exc))
            return None
        self.note = ""
        return new, api
