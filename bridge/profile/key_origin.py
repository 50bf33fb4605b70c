"""Where the private key in use came from, for the fix of Vapi's 401: the one place to
change. Listing every place a key may live ("env VAPI_API_KEY, api.key_file or the systemd
credential") left an operator guessing which one held the rejected key — under systemd the
credential, unless a drop-in's `Environment=` set the variable first — and named
VAPI_API_KEY whatever `api.key_env` said. Follows `keys.read_secret`'s order."""

from __future__ import annotations

import os

from bridge.profile.keys import CREDENTIAL_NAME, key_path
from bridge.profile.model import Profile


def key_fix(profile: Profile) -> str:
    """The fix for a rejected key: put the PRIVATE key where this one was read from."""
    name = profile.api.key_env
    lead = "put the PRIVATE API key (Vapi dashboard, API Keys) in"
    if os.environ.get(name, "").strip():
        return f"{lead} the environment variable {name}, where this key came from"
    if profile.api.key_file:
        return (f"{lead} {key_path(profile.api.key_file, profile.directory)} (api.key_file), "
                f"where this key came from")
    return (f"{lead} the file the unit's LoadCredential={CREDENTIAL_NAME}: line names "
            f"(/etc/vapi-bridge/credentials/{profile.name}.key in the shipped unit), where "
            f"this key came from, then restart the unit: a reload keeps the old copy")

