"""Exceptions whose message is one plain sentence a user can act on."""


class CxDataError(Exception):
    """Base class: ``str(exc)`` is shown to the user as is."""


class UnusableInput(CxDataError):
    """The input cannot be used at all (CLI exit code 2)."""


class WorkspaceBusy(CxDataError):
    """Another process holds the workspace file."""


class DatasetNotFound(CxDataError):
    """No dataset of that name in the workspace."""
