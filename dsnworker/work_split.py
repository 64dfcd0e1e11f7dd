"""How work is split among processes: the cores this process may use, and chunks of messages.

Apart from the pool (`pool.py`), so that `parse` can ask both without importing multiprocessing: a
few messages are analysed in-process, and a plain parse must not pay for what it does not start.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

Message = tuple[str, bytes]  # (source, bytes)

CHUNK_MESSAGES = 64  # messages per task: fewer tasks, less IPC per message
CHUNK_BYTES = 1_000_000  # ... and a bound on the bytes, so a chunk of large messages stays small


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or `taskset` narrows)."""
    return len(os.sched_getaffinity(0))


def chunked(messages: Iterable[Message], most: int = CHUNK_MESSAGES) -> Iterator[list[Message]]:
    """Chunks of at most `most` messages and about CHUNK_BYTES, in order."""
    chunk: list[Message] = []
    weight = 0
    for message in messages:
        chunk.append(message)
        weight += len(message[1])
        if len(chunk) >= most or weight >= CHUNK_BYTES:
            yield chunk
            chunk, weight = [], 0
    if chunk:
        yield chunk
