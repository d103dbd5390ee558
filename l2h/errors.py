"""The one exception type for a user's mistake: its message names the problem and the fix."""


class L2HError(ValueError):
    """Raised for bad input or an impossible setting; the entry points print it as one line, no traceback."""
