"""The bridge's own errors: what a user of the protocol layer can act on, named in one line.

The CLI prints a :class:`BridgeError` without a traceback (the bridge's commands declare it in
``USER_ERRORS``); the gateway turns it into its own config/user errors. The bridge imports nothing
of ours, so these do not derive from ``edge_runtime.errors``.
"""


class BridgeError(Exception):
    """A bad option, fault spec, profile or recording for the BLE layer; the message names it."""


class RecordingError(BridgeError, ValueError):
    """A recording file is missing, unreadable or malformed; the message names the file."""
