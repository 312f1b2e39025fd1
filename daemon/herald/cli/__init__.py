"""The command line: `herald run|say|cache|voices|doctor|config|discovery`."""

from herald.cli.main import (
    main,
)

__all__ = [
    "main",
]
