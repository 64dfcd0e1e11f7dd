"""When to try a webhook again: each event's backoff, and the pause of an endpoint that is down.

One failed event says little about the endpoint: its consumer may choke on that event alone, and the
events of other recipients must still go. Failures in a row, with no answer in between, say the
endpoint itself is in trouble: then nothing is sent to it for a while (the same backoff, growing
with each pause), so that a down endpoint is not tried with every queued event. A 429 (or any
Retry-After) speaks for the whole endpoint at once.
"""

from __future__ import annotations

import random

FIRST_RETRY = 5.0  # seconds; doubled at each failure ...
LONGEST_RETRY = 3600.0  # ... up to an hour
FAILURES_TO_PAUSE = 3  # endpoint failures in a row that pause the sink


def backoff(attempts: int, rng: random.Random) -> float:
    """Seconds before the next try after `attempts` failures: exponential, capped, with jitter
    (half to all of it), so that many failed events do not all come back at the same instant."""
    ceiling = min(LONGEST_RETRY, FIRST_RETRY * 2 ** min(attempts, 20))
    return ceiling * rng.uniform(0.5, 1.0)


class EndpointBreaker:
    """Counts one endpoint's failures in a row and says when to stop sending to it, and for how long.

    After a pause the endpoint gets `FAILURES_TO_PAUSE` tries again, not one: a single probe could
    always be the same failing event (the oldest one due), and the others would wait behind it.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.failures_in_a_row = 0
        self.pauses_in_a_row = 0  # since the endpoint last answered: each pause is longer
        self.paused_until = 0.0

    def paused(self, now: float) -> bool:
        return now < self.paused_until

    def answered(self) -> None:
        """The endpoint answered (2xx, or a 4xx about the request): it is up."""
        self.failures_in_a_row = 0
        self.pauses_in_a_row = 0

    def failed(self, now: float, retry_after: float | None = None, at_once: bool = False) -> bool:
        """The endpoint failed (5xx, 408, 429, no answer) at `now`; True when sending to it pauses now."""
        self.failures_in_a_row += 1
        if not at_once and retry_after is None and self.failures_in_a_row < FAILURES_TO_PAUSE:
            return False
        pause = max(backoff(self.pauses_in_a_row, self.rng), min(retry_after or 0.0, LONGEST_RETRY))
        self.paused_until = now + pause
        self.pauses_in_a_row += 1
        self.failures_in_a_row = 0
        return True
