"""The offline core as one call: bytes of a message in, one `Outcome` per recipient out.

Never raises on input: an internal error on one message gives an `undefined` outcome that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from dsnworker.classify.engine import Classifier
from dsnworker.classify.rules import default_rules_dir, load_packs
from dsnworker.lazylog import LazyLogger
from dsnworker.model import AddressInfo, Identity, Kind, Outcome, ParsedMessage, RecipientReport, Verdict, evolved
from dsnworker.parse import parse_message
from dsnworker.parse.address import address_info

if TYPE_CHECKING:  # a caller that identifies by VERP has imported it; `parse` without --verp need not
    from dsnworker.identify import Identifier

log = LazyLogger(__name__)


class Analyser:
    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    @classmethod
    def with_rules(
        cls, extra_dirs: tuple[Path, ...] = (), action_overrides: Mapping[str, str] | None = None
    ) -> Analyser:
        packs = load_packs(default_rules_dir(), *extra_dirs)
        return cls(Classifier(packs, action_overrides))

    def analyse(self, data: bytes, source: str, identifier: Identifier | None = None) -> list[Outcome]:
        """`identifier`: say how each recipient was identified (`Outcome.identity`), and apply its VERP
        pattern (the recipient the address the bounce was sent to names); without it, the bounce alone."""
        try:
            outcomes = self._analyse(data, source, identifier)
        except Exception as exc:  # a bug of ours must not lose the message: say so, keep going
            log.warning("%s: internal error while analysing: %s", source, exc, exc_info=True)
            outcomes = [_internal_error(source, exc)]
        if identifier is None:
            return outcomes
        # asked for, so always said: an outcome without a recipient has none from anywhere
        return [o if o.identity is not None else evolved(o, identity=Identity(None)) for o in outcomes]

    def _analyse(self, data: bytes, source: str, identifier: Identifier | None) -> list[Outcome]:
        message = parse_message(data, source)
        if message.kind is Kind.NOT_BOUNCE and (message.parser_errors or message.truncated):
            return [_unread(source, message)]
        if message.kind is Kind.NOT_BOUNCE or not message.reports:
            empty = AddressInfo(address=None, domain=None)
            verdict = self.classifier.decide(message, RecipientReport(None), empty)
            return [Outcome(source, message, None, empty, verdict)]
        identified: list[tuple[RecipientReport, Identity | None]]
        if identifier is not None:
            identified = [*identifier.identify(message, data)]
            message = evolved(message, reports=tuple(report for report, _ in identified))
        else:
            identified = [(report, None) for report in message.reports]
        outcomes = []
        for report, identity in identified:
            address = address_info(report.recipient, self.classifier.mailbox_syntax)
            verdict = self.classifier.decide(message, report, address)
            if address.problem is not None:
                verdict = _not_an_address(verdict)
            outcomes.append(Outcome(source, message, report, address, verdict, identity))
        return outcomes


# what acts on the recipient address itself: never on something that is not one
_ADDRESS_ACTIONS = frozenset(("suppress", "retry", "fix_address"))


def _not_an_address(verdict: Verdict) -> Verdict:
    """A recipient that is not an address ("Undisclosed Recipients", no recipient at all) is for a
    person to look at, whatever a rule said: nothing to suppress, count or rewrite. The reason stays;
    `ignore` and `sender_fix` stay too, as they never speak about the recipient."""
    action = "review" if verdict.action in _ADDRESS_ACTIONS else verdict.action
    return evolved(verdict, action=action, hard=False, details={**verdict.details, "invalid_recipient": True})


def _internal_error(source: str, exc: Exception) -> Outcome:
    message = ParsedMessage(kind=Kind.BOUNCE, format="error")
    return _error_outcome(source, message, f"internal error: {type(exc).__name__}: {exc}")


def _unread(source: str, message: ParsedMessage) -> Outcome:
    """No parser read the message, and one at least raised or the reading stopped at a limit: the
    parser that raised may have been the one that knows its format, and the part not read may have
    been the bounce, so this is no `not_bounce` but an error (the worker quarantines it)."""
    if message.parser_errors:
        error = "no parser could read it; " + ", ".join(message.parser_errors) + " raised"
    else:
        error = "no bounce found in what was read, and it was not read whole: " + "; ".join(message.truncated)
    return _error_outcome(source, evolved(message, kind=Kind.BOUNCE, format="error"), error)


def _error_outcome(source: str, message: ParsedMessage, error: str) -> Outcome:
    """`format: error`: the outcome of a message we failed on, `undefined` for a person to review."""
    verdict = Verdict(
        reason="undefined",
        hard=False,
        action="review",
        status=None,
        provider=None,
        rule=None,
        details={"error": error[:300]},
    )
    return Outcome(source, message, None, AddressInfo(address=None, domain=None), verdict)
