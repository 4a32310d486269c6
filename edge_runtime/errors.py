"""Errors the user can act on. The CLI prints them as one line, without a traceback."""


class UserError(Exception):
    """A problem with the user's input (file, bundle, option, config) that names what is wrong."""


class BundleError(UserError):
    """A model bundle is missing, corrupt, mismatched or of an unknown schema: it is refused."""


class DataError(UserError):
    """Input data (a recording, a zip, a table) is malformed; the message names the file."""
