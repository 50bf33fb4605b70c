"""Running as a systemd service: sd_notify readiness, status and watchdog."""

from bridge.service.notify import Notifier, watchdog_interval, watchdog_loop

__all__ = ["Notifier", "watchdog_interval", "watchdog_loop"]
