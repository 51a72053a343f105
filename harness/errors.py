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
