"""A private, user-mode PulseAudio with a virtual speaker and a virtual microphone.

The program under test (usually a child process started with ``env=rig.env``) sees two ALSA
devices through PortAudio: ``vb_speaker`` (output only) and ``vb_mic`` (input only). The harness
plays "what the microphone hears" into the mic and records "what the speaker played" from the
speaker's monitor, with monotonic timestamps. See docs/audio-rig.md.

- ``daemon``: the private ``pulseaudio`` process, its helpers and private dirs (``SoundServer``)
- ``topology``: the sinks/sources, ALSA devices and config files; the optional echo path
- ``harness``: the in-process streams that play into the mic and record the speaker
- ``rig``: ``PulseRig``, the context manager tests hold, made of the three

Nothing of the machine's own audio configuration is read or written: the daemon and every client
get a private HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, daemon.conf, client.conf and socket.
"""

from .daemon import DEBIAN_PACKAGES, RigError
from .rig import PulseRig
from .topology import (
    LOOPBACK_MIN_MS,
    MIC_DEVICE,
    MIC_SINK,
    MIC_SOURCE,
    SPEAKER_DEVICE,
    SPEAKER_SINK,
    SUPPORTED_RATES,
    Loopback,
)

__all__ = ["DEBIAN_PACKAGES", "LOOPBACK_MIN_MS", "MIC_DEVICE", "MIC_SINK", "MIC_SOURCE",
           "SPEAKER_DEVICE", "SPEAKER_SINK", "SUPPORTED_RATES", "Loopback", "PulseRig",
           "RigError"]
