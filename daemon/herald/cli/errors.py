"""The one error type of the command line, shared by its modules."""


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""
