"""Profiles: one YAML file per kiosk use, validated into frozen settings."""

from bridge.profile.keys import api_key, public_key
from bridge.profile.loader import find_profile, load_profile, parse_profile
from bridge.profile.model import Profile

__all__ = ["Profile", "api_key", "find_profile", "load_profile", "parse_profile", "public_key"]
