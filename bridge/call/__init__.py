"""One call: its lifecycle, uplink, downlink, recording and summary, and the wiring that
builds them from a profile."""
