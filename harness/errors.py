"""One exception hierarchy. The CLI turns any of these into one line and exit code 3
(or the code the error names); anything else is a bug in raft-jepsen and shows a traceback."""


class RaftJepsenError(Exception):
    """Base class: a problem the user can fix, reported as one line."""

    exit_code = 3


class UsageError(RaftJepsenError):
    """Bad flags, a bad config file, an unknown name."""


class HistoryError(RaftJepsenError):
    """A history file that cannot be read or is not well formed."""


class EnvironmentProblem(RaftJepsenError):
    """The machine cannot run this: no Docker daemon, no image, a missing tool."""


# Every character str.splitlines() breaks a line at, and the other C0 controls: an error quotes
# what it was given, which may hold any of them, and must still be one line on a terminal.
_ESCAPED = {c: f"\\x{c:02x}" for c in [*range(32), 0x7F, 0x85]} | {0x2028: "\\u2028", 0x2029: "\\u2029"}


def one_line(text: str) -> str:
    """`text` with line breaks and control characters escaped (\\x0a)."""
    return text.translate(_ESCAPED)
