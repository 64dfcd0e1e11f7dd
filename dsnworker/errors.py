"""The project's exceptions: one base class, subclasses that carry what a user needs to act."""

from __future__ import annotations


class DsnworkerError(Exception):
    """Base class of every error dsnworker raises on purpose."""


class RuleError(DsnworkerError):
    """A rule pack is invalid: names the file, the rule id (if any) and what is wrong."""

    def __init__(self, path: str, rule_id: str | None, problem: str) -> None:
        self.path, self.rule_id, self.problem = path, rule_id, problem
        where = f"{path}: rule {rule_id!r}" if rule_id else path
        super().__init__(f"{where}: {problem}")
