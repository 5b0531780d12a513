"""Errors that reach the user as one readable line (the CLI exits 2 on them)."""

from collections.abc import Callable


class UserError(Exception):
    """A mistake the user can fix: a wrong path, a bad option, a bad config key."""


class CorpusLocked(UserError):
    """Another writer holds the corpus."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM: the command unwinds (its cluster closed, its lock released) and exits
    128 + the signal's number. Not an Exception, so that no ``except Exception`` swallows it, and
    not a KeyboardInterrupt, which click would answer with a line of its own."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class DataRejected(Exception):
    """The data broke a limit the user set (e.g. too many rejects): exit 1, one line."""


def describe(error, name: Callable[[tuple], str] | None = None) -> str:
    """The first problem as one line, at its YAML key path (or what ``name`` calls the key:
    the command line names its flag)."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    if loc[:2] == ("ingest", "inputs"):
        loc = loc[1:]  # written at the top of the file
    where = name(loc) if name else ".".join(str(part) for part in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r} at {where}"
    elif first["type"] == "missing":
        message = f"missing key {where}"
    else:
        message = f"{where}: {first['msg'].removeprefix('Value error, ')}"
    more = error.error_count() - 1
    return message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
