"""The project's own exception types.

Every error a user can cause (a bad file, a missing column, an unknown rule variant) is raised as
a :class:`BidstackError` with a one-line message that names the file, line, column or unit at fault.
The command line prints that line and exits with status 2, without a traceback; a
:class:`MissingDataError` (the store holds nothing to run on) and a :class:`TaskError` (a
scaled-out task failed) exit with status 1.
"""


class BidstackError(Exception):
    """Base class of every error bidstack raises for bad input or configuration."""


class InputError(BidstackError, ValueError):
    """A frame or file given to bidstack cannot be used: missing column, wrong dtype, bad value."""


class RuleError(BidstackError, ValueError):
    """A rule variant cannot be loaded: unknown name, unreadable file, malformed table or cell."""


class ConfigError(BidstackError, ValueError):
    """A configuration file (for example a fleet file) is malformed or names something unknown."""


class StoreError(BidstackError):
    """A Parquet store cannot be read or written as asked."""


class IngestError(BidstackError):
    """An AEMO MMS or NEM12 source cannot be ingested."""


class OutputError(InputError):
    """An output folder or file cannot be written as asked: it holds files bidstack did not
    write, lies under a file, or cannot be written."""


class MissingDataError(BidstackError):
    """The store holds nothing a run can use: no store, no bids in the window, no registration."""


class TaskError(BidstackError):
    """A task of a scaled-out run (a month, a file to ingest) failed on a worker, or its worker
    died too often; the message names the month or file."""

    exit_status = 1
