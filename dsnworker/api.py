"""The library API behind `dsnworker.analyse`: one call, bytes of a message in, one `Outcome` per recipient out.

Loading the rule packs costs far more than reading one bounce, so the analyser of each set of extra
rule folders is built once per process and kept (as `dsnworker parse` keeps its one analyser).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from dsnworker.analyser import Analyser
from dsnworker.identify import Identifier
from dsnworker.model import Outcome
from dsnworker.verp import VerpPattern

_analysers: dict[tuple[str, ...], Analyser] = {}
_loading = threading.Lock()  # two threads asking at once load the packs once


def analyse(
    data: bytes,
    *,
    rules: Sequence[str | os.PathLike[str]] = (),
    source: str = "<bytes>",
    verp: str | None = None,
) -> list[Outcome]:
    """Read one message (a bounce, a complaint, an auto-reply or anything else) and decide per recipient.

    `rules`: extra rule folders, loaded after the shipped packs (as `dsnworker parse --rules`).
    `source`: what the outcomes' `source` says (a path, a mailbox and UID, ...).
    `verp`: your VERP return path, `"bounces+{local}={domain}@sender.example"`: the recipient is also
    read from the address the message was sent to, and each outcome says where its recipient came from.

    Never raises on the message's content. Raises `TypeError` for data that is not bytes, and
    `DsnworkerError` for a rule folder that is missing or invalid, or a pattern that cannot work.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(
            f"dsnworker.analyse() takes the message as bytes, got {type(data).__name__}: read the file in binary "
            "mode, or encode the text as it was received"
        )
    identifier = _identifier(verp) if verp is not None else None
    return _analyser(rules).analyse(data, source, identifier)


def _analyser(rules: Sequence[str | os.PathLike[str]]) -> Analyser:
    if isinstance(rules, (str, os.PathLike)):  # one folder given alone, not a sequence of its characters
        rules = (rules,)
    key = tuple(str(Path(folder).expanduser().resolve()) for folder in rules)
    analyser = _analysers.get(key)
    if analyser is None:
        with _loading:
            analyser = _analysers.get(key)
            if analyser is None:
                analyser = _analysers[key] = Analyser.with_rules(tuple(Path(folder) for folder in key))
    return analyser


@lru_cache(maxsize=16)
def _identifier(verp: str) -> Identifier:
    return Identifier(VerpPattern.parse(verp))
