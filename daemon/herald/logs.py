"""Logging: one line per event, greppable, and never a secret."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from herald.secret import MIN_MASKED, Secret, mask


class RedactSecrets(logging.Filter):
    """Defence in depth: secrets are never passed to the logger, but if one ever
    were, through an exception text from a library, it is masked here."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s.reveal()) >= MIN_MASKED]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        text = record.getMessage()
        masked = mask(text, self._secrets)
        if masked != text:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = str(record.exc_info[1])
            if mask(exc_text, self._secrets) != exc_text:
                record.exc_info = None
                record.msg = f"{record.msg} (exception hidden: it held a secret)"
        return True


def setup(level: str = "INFO", secrets: Iterable[Secret] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
