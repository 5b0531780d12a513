"""Errors that reach the user as one readable line (the CLI exits 2 on them)."""


class UserError(Exception):
    """A mistake the user can fix: a wrong path, a bad option, a bad config key."""


class CorpusLocked(UserError):
    """Another writer holds the corpus."""


class DataRejected(Exception):
    """The data broke a limit the user set (e.g. too many rejects): exit 1, one line."""
