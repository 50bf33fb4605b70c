"""Running as a systemd service: the daemon, sd_notify readiness, status and watchdog,
logging to the journal.

Nothing is imported here: `ctl` imports `logsetup` alone, and must not pay for asyncio.
"""
