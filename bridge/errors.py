"""Errors a user can act on, each with the process exit code it maps to.

Anything raised as a `BridgeError` is printed as one line (its message already names the
cause and the fix) and never as a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # unexpected internal error
    PROFILE = 2  # profile or command line wrong
    AUTH = 3  # API key refused, billing, blocked client
    AUDIO = 4  # audio device missing or failed
    NETWORK = 5  # retries exhausted, connection lost for good
    SIGINT = 130
    SIGTERM = 143


class BridgeError(Exception):
    """An error with a one-line, user-facing message and an exit code."""

    exit_code: ExitCode = ExitCode.FAILURE
    program = "vapi-bridge"  # what its line starts with (`ctl`'s usage errors: "vapi-bridge ctl")

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ProfileError(BridgeError):
    exit_code = ExitCode.PROFILE


class UsageError(BridgeError):
    exit_code = ExitCode.PROFILE


class AuthError(BridgeError):
    """401, 402, 403: not retried."""

    exit_code = ExitCode.AUTH


class ApiRequestError(BridgeError):
    """400 and other refusals of the request itself: not retried."""

    exit_code = ExitCode.PROFILE


class BodyRefused(ApiRequestError):
    """400: Vapi refused the request's body. `said`: its validator's lines one by one (paths
    in the body's own names: `assistantOverrides.property x should not exist`), for the
    caller that built the body to say them in the names the user wrote."""

    def __init__(self, message: str, *, what: str = "", said: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.what, self.said = what, said


class NotFound(ApiRequestError):
    """404 to a lookup: Vapi has no such thing (another key or base URL)."""


class NetworkError(BridgeError):
    """The API or the call socket could not be reached, after retries."""

    exit_code = ExitCode.NETWORK


class InTheWay(NetworkError):
    """Something between the kiosk and Vapi answered for it (a captive portal's login page,
    a redirect, 511): the network's to mend, not the profile's."""


class VapiFailing(NetworkError):
    """Vapi was reached but kept failing (5xx, 429) through the retries: its side, not the
    network (the `error` event's cause `vapi`, not `network`)."""


class Unsure(NetworkError):
    """A command went out but its answer did not come in time (a timeout): Vapi may or may
    not have acted on it. Told apart from a refusal by its type, never by its words (a
    refusal's carries the server's text, which may quote anything)."""


class AudioDeviceError(BridgeError):
    exit_code = ExitCode.AUDIO


class AudioFileError(AudioDeviceError):
    """A `file:` the profile names cannot be read (not a WAV, not 16-bit PCM, gone) or, for
    audio.output, written: a profile problem, exit 2 as for a missing one; handlers of
    device errors catch it too."""

    exit_code = ExitCode.PROFILE


class Refused(BridgeError):
    """The daemon or Vapi refused a command (no call in progress, 4xx from controlUrl)."""

    exit_code = ExitCode.FAILURE


class NoCall(Refused):
    """A command for the call, with none in progress: none yet, or the last one is over
    (the control socket adds how a call starts in the daemon's mode: `control.no_call`)."""


class NoDaemon(BridgeError):
    """Nothing answers on the control socket."""

    exit_code = ExitCode.NETWORK
