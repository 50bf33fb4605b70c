"""The words of `vapi-bridge --help`: option help shared by commands, and each command's
exit-code section (kept true to `bridge.errors.ExitCode` and README's table)."""

PROFILE_HELP = ("a profile NAME (./NAME.yaml, ./config/NAME.yaml, ~/.config/vapi-bridge/"
                "NAME.yaml, /etc/vapi-bridge/NAME.yaml) or a PATH")
SET_HELP = ("override one profile key, e.g. --set audio.input=null (repeatable; a relative "
            "path is relative to the profile's directory)")
RUN_EXITS = """exit codes:
  0    the call ended normally (by either side, or by Ctrl-C/SIGTERM)
  1    internal error (please report it; -v shows the details)
  2    profile or command-line error; Vapi refused the request (400), or api.base_url
       answered 404 to creating the call (no Vapi API there)
  3    Vapi refused the key (401), billing (402), or blocked the client (403); the
       spending guard refused the call (once mode)
  4    audio device missing or failed
  5    network: retries exhausted, or the call dropped mid-way (its connection lost),
       or failed on Vapi's side (a call.in-progress.error-…, pipeline-error-… or
       call.start.error-… reason, the assistant missing or invalid, worker-shutdown)
  130  a second Ctrl-C while the call was already ending (143: SIGTERM)"""
CHECK_EXITS = """exit codes (of the first failed check):
  0    ready: all checks passed
  1    internal error
  2    the profile is wrong, or no API key is set (environment, key file, credential),
       or the one set is empty; or stdout cannot be written (a full disk)
  3    Vapi refused the API key (401), billing (402), or blocked the client (403); the
       spending guard's daily limit (call.max_daily_minutes/_cost) is already reached
  4    an audio device is missing, fails to open, or the microphone hears nothing (--beep)
  5    the API host does not resolve, TLS does not verify, or the API cannot be reached"""
DEVICES_EXITS = """exit codes:
  0    listed (also when there are none: the hint says what to check)
  1    internal error
  2    stdout cannot be written (a full disk)
  4    PortAudio is not installed or could not start"""
DEMO_EXITS = """exit codes:
  0    the demo call ended normally
  1    internal error
  2    the simulator's [sim] extra is missing (the message says how to install it), or
       --out cannot be written
  4    the microphone or speaker failed
  5    the call's connection to the built-in simulator was lost"""
INIT_EXITS = """exit codes:
  0    written
  2    the file exists (use --force), its directory is missing (the line gives the
       mkdir, or sudo where the user may not create it) or not writable, or the
       name is not a valid profile name; for -, stdout cannot be written (a full
       disk)"""
UNIT_EXITS = """exit codes:
  0    printed
  1    internal error
  2    stdout cannot be written (a full disk)"""
