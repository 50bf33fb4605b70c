"""vapi-bridge: a Vapi voice assistant on a desk kiosk."""

__version__ = "0.1.0"
USER_AGENT = f"vapi-bridge/{__version__}"
