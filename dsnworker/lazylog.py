"""A module's logger, made on its first use.

Importing `logging` costs about 3 ms, a few per cent of the start-up of `dsnworker parse` on one
file, and the parsing and classifying modules log only when something is wrong: their `log` is a
`LazyLogger`, and `logging` is imported the first time one of them says something.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging


class LazyLogger:
    """Stands for `logging.getLogger(name)`: every attribute is the real logger's."""

    __slots__ = ("_name", "_logger")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: logging.Logger | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._logger is None:
            import logging

            self._logger = logging.getLogger(self._name)
        return getattr(self._logger, attribute)
