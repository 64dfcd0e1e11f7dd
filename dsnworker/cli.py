"""The `dsnworker` command: parse, explain, rules check; run, poll, status, report, suppressions list/remove,
erase, migrate."""

from __future__ import annotations

import argparse
import gc
import io
import itertools
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dsnworker import cli_lifecycle, cli_migrate
from dsnworker.errors import DsnworkerError
from dsnworker.report import command as report_command

if TYPE_CHECKING:  # imported late at run time: `--help` should not pay for flanker and the rules
    from dsnworker.analyser import Analyser
    from dsnworker.identify import Identifier
    from dsnworker.worker.runner import Worker
    from dsnworker.worker.settings import Settings, SinkSettings
    from dsnworker.worker.state import Store


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    _set_output_encoding(json_lines=getattr(args, "format", None) == "jsonl")
    try:
        return int(args.run(args))
    except DsnworkerError as exc:
        from dsnworker.worker.redaction import redact

        print(f"dsnworker: {redact(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `dsnworker parse ... | head` is normal use
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


def _set_output_encoding(json_lines: bool) -> None:
    """JSON lines are UTF-8 whatever the locale (RFC 8259); text for people never fails to print."""
    if not isinstance(sys.stdout, io.TextIOWrapper):
        return
    if json_lines:
        sys.stdout.reconfigure(encoding="utf-8")
    else:
        sys.stdout.reconfigure(errors="replace")


def _parser() -> argparse.ArgumentParser:
    from dsnworker import __version__

    parser = argparse.ArgumentParser(prog="dsnworker", description="Bounce (DSN) processor.")
    parser.add_argument("--version", action="version", version=f"dsnworker {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    parse = commands.add_parser("parse", help="classify bounces: one JSON line (or table row) per recipient")
    parse.add_argument(
        "paths", nargs="+", metavar="PATH", help="a message file, a folder, an mbox file, or - for stdin"
    )
    parse.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    _rules_option(parse)
    parse.add_argument(
        "--verp",
        metavar="PATTERN",
        help="your VERP return path, e.g. 'bounces+{local}={domain}@sender.example': the recipient is also read "
        "from the address each bounce was sent to, and each line says where its recipient came from",
    )
    parse.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help="processes that read the messages, output in input order (default: the cores this process may "
        "use; 1 reads them in this process)",
    )
    parse.set_defaults(run=_cmd_parse)

    explain = commands.add_parser("explain", help="show, for a person, how one message was read and decided")
    explain.add_argument("path", metavar="FILE")
    _rules_option(explain)
    explain.set_defaults(run=_cmd_explain)

    rules = commands.add_parser("rules", help="rule pack tools")
    rules_commands = rules.add_subparsers(dest="rules_command", metavar="SUBCOMMAND", required=True)
    check = rules_commands.add_parser("check", help="validate rule packs and run their examples")
    check.add_argument(
        "dirs", nargs="*", metavar="DIR", help="extra rule folders (the shipped packs are always loaded)"
    )
    check.set_defaults(run=_cmd_rules_check)

    run = commands.add_parser("run", help="run the worker in the foreground until SIGTERM/SIGINT")
    _worker_options(run)
    run.set_defaults(run=_cmd_run)

    poll = commands.add_parser("poll", help="one pass over the mailboxes; exit 1 if one failed")
    _worker_options(poll)
    poll.add_argument("--mailbox", action="append", default=[], metavar="NAME", help="only this mailbox (repeatable)")
    poll.add_argument(
        "--dry-run", action="store_true", help="read and classify, print the events; commit, deliver and move nothing"
    )
    poll.add_argument(
        "--new-state",
        action="store_true",
        help="start afresh where the state file existed and is now missing, empty or damaged (a damaged one "
        "is kept aside); every message still in the mailboxes is read again",
    )
    poll.set_defaults(run=_cmd_poll)

    status = commands.add_parser(
        "status", help="each mailbox's last pass and waiting messages, each sink's backlog; exit 1 if unhealthy"
    )
    status.add_argument("-c", "--config", required=True, type=Path, metavar="FILE")
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.set_defaults(run=_cmd_status)

    suppressions = commands.add_parser("suppressions", help="the suppression file")
    suppression_commands = suppressions.add_subparsers(dest="suppressions_command", metavar="SUBCOMMAND", required=True)
    listing = suppression_commands.add_parser("list", help="print the suppressed addresses (a table or JSON lines)")
    listing.add_argument("-c", "--config", required=True, type=Path, metavar="FILE")
    listing.add_argument("--sink", metavar="NAME", help="which suppression_file sink (default: the first)")
    listing.add_argument("--format", choices=("table", "jsonl"), default="table")
    listing.set_defaults(run=_cmd_suppressions_list)
    cli_lifecycle.register(commands, suppression_commands)  # suppressions remove, erase

    outbox = commands.add_parser("outbox", help="webhook events waiting or given up (dead letters)")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", metavar="SUBCOMMAND", required=True)
    outbox_list = outbox_commands.add_parser("list", help="events queued for webhooks, or only the dead letters")
    outbox_list.add_argument("-c", "--config", required=True, type=Path, metavar="FILE")
    outbox_list.add_argument("--dead", action="store_true", help="only the dead letters")
    outbox_list.add_argument("--sink", metavar="NAME")
    outbox_list.add_argument("--format", choices=("table", "jsonl"), default="table")
    outbox_list.set_defaults(run=_cmd_outbox_list)
    outbox_retry = outbox_commands.add_parser("retry", help="send dead letters again (and restart a gone endpoint)")
    outbox_retry.add_argument("-c", "--config", required=True, type=Path, metavar="FILE")
    which = outbox_retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", metavar="ID", help="one event")
    which.add_argument("--all", action="store_true", help="every dead letter")
    outbox_retry.add_argument("--sink", metavar="NAME")
    outbox_retry.set_defaults(run=_cmd_outbox_retry)

    report_command.add_parser(commands)
    cli_migrate.register(commands)

    webhook = commands.add_parser("webhook", help="webhook tools")
    webhook_commands = webhook.add_subparsers(dest="webhook_command", metavar="SUBCOMMAND", required=True)
    webhook_test = webhook_commands.add_parser("test", help="send a signed sample event and show the answer")
    webhook_test.add_argument("-c", "--config", required=True, type=Path, metavar="FILE")
    webhook_test.add_argument("--sink", required=True, metavar="NAME")
    webhook_test.set_defaults(run=_cmd_webhook_test)
    return parser


def _worker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, type=Path, metavar="FILE", help="the TOML configuration")
    parser.add_argument("--log-format", choices=("text", "json"), help="overrides [log] format")


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes >= 1, got {text!r}")
    return int(text)


def _rules_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", action="append", default=[], metavar="DIR", help="an extra rule folder (repeatable)")


class _Unreadable:
    """Paths that could not be read: each said on stderr as met, the run goes on."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def report(self, path: str, exc: OSError) -> None:
        self.paths.append(path)
        print(f"dsnworker: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)


def _analyser(args: argparse.Namespace) -> Analyser:
    from dsnworker.analyser import Analyser

    return Analyser.with_rules(tuple(Path(d) for d in args.rules))


def _identifier(verp: str | None) -> Identifier | None:
    if verp is None:
        return None
    from dsnworker.identify import Identifier
    from dsnworker.verp import VerpPattern, VerpPatternError

    try:
        return Identifier(VerpPattern.parse(verp))
    except VerpPatternError as problem:
        raise DsnworkerError(f"--verp: {problem}") from None


def _cmd_parse(args: argparse.Namespace) -> int:
    from dsnworker.inputs import iter_messages
    from dsnworker.output import outcome_lines, table_header
    from dsnworker.work_split import available_cores

    identifier = _identifier(args.verp)
    analyser = _analyser(args)
    # the loaded rules live as long as the process: the cyclic collector's full passes need not
    # walk them again and again (and children forked from it share their pages)
    gc.freeze()
    out: TextIO = sys.stdout
    unreadable = _Unreadable()
    table = args.format == "table"
    if table:
        out.write(table_header() + "\n")
    messages = iter_messages(args.paths, unreadable.report)
    jobs = args.jobs or available_cores()
    if jobs > 1:
        for text in _parsed_in_pool(jobs, tuple(Path(d) for d in args.rules), analyser, identifier, messages, table):
            out.write(text)
    else:
        for source, data in messages:
            out.write(outcome_lines(analyser.analyse(data, source, identifier), table))
    out.flush()
    # every readable message was still processed; the exit status says that some input was not
    return 1 if unreadable.paths else 0


def _parsed_in_pool(
    jobs: int,
    extra_dirs: tuple[Path, ...],
    analyser: Analyser,
    identifier: Identifier | None,
    messages: Iterator[tuple[str, bytes]],
    table: bool,
) -> Iterator[str]:
    """The output, chunk by chunk in input order, analysed by `jobs` processes forked from this one."""
    from dsnworker.output import outcome_lines
    from dsnworker.work_split import chunked

    chunks = chunked(messages)
    first = next(chunks, [])
    second = next(chunks, None)
    if second is None:  # a few messages: starting children would cost more than it saves
        for source, data in first:
            yield outcome_lines(analyser.analyse(data, source, identifier), table)
        return
    from dsnworker.pool import AnalysisPool, RuleSet, format_chunk

    rules = RuleSet(extra_dirs)
    # fork is safe here: `parse` has one thread and holds no lock, socket or state file
    pool = AnalysisPool(jobs, {rules: analyser}, fork_safe=True)
    try:
        yield from pool.map(format_chunk, itertools.chain((first, second), chunks), rules, identifier, table)
    finally:
        pool.close()


def _cmd_explain(args: argparse.Namespace) -> int:
    from dsnworker.explain import explain
    from dsnworker.inputs import iter_messages

    analyser = _analyser(args)
    unreadable = _Unreadable()
    # an mbox is explained message by message (path#1, path#2, ...), like `parse` reads it
    for number, (source, data) in enumerate(iter_messages([args.path], unreadable.report)):
        sys.stdout.write(("\n" if number else "") + explain(analyser, data, source))
    return 2 if unreadable.paths else 0


def _cmd_rules_check(args: argparse.Namespace) -> int:
    from dsnworker.classify.examples import check_packs

    report, failures = check_packs(tuple(Path(d) for d in args.dirs))
    sys.stdout.write(report)
    return 1 if failures else 0


def _worker(args: argparse.Namespace, new_state: bool = False) -> Worker:
    from dsnworker.worker import credentials, logs
    from dsnworker.worker.config import load_settings
    from dsnworker.worker.preflight import check_outputs
    from dsnworker.worker.runner import Worker

    settings = load_settings(args.config)
    check_outputs(settings)
    credentials.remember_configured(settings)
    logs.configure(args.log_format or settings.log_format, settings.log_level)
    return Worker(settings, new_state=new_state)


def _cmd_run(args: argparse.Namespace) -> int:
    _worker(args).run()
    return 0


def _cmd_poll(args: argparse.Namespace) -> int:
    worker = _worker(args, new_state=args.new_state)
    unknown = [name for name in args.mailbox if name not in worker.passes]
    if unknown:
        raise DsnworkerError(f"{args.config}: no mailbox named {unknown[0]!r} (have: {', '.join(worker.passes)})")
    if not args.dry_run:  # a shared PostgreSQL state: the mailboxes no other worker holds (a dry run commits nothing)
        worker.join_cluster(balance=False)
    try:
        try:
            summaries = worker.poll(args.mailbox, dry_run=args.dry_run)
        finally:
            worker.close_pool()
        to_json = json.JSONEncoder(ensure_ascii=False).encode
        for summary in summaries:
            for event in summary.dry_run_events:
                sys.stdout.write(to_json(event) + "\n")
            sys.stdout.write(("dry run: " if args.dry_run else "") + summary.line() + "\n")
        if not args.dry_run:
            # an endpoint that fails is retried later, from the outbox: not a failed poll
            for webhook_round in worker.deliver_webhooks():
                sys.stdout.write(webhook_round.line() + "\n")
            worker.prune()
            worker.expire_suppressions()
    finally:
        worker.leave_cluster()
    return 1 if any(summary.errors for summary in summaries) else 0


def _cmd_status(args: argparse.Namespace) -> int:
    from dsnworker.worker.status_view import status_command

    text, code = status_command(args.config, args.format)
    sys.stdout.write(text)
    return code


def _cmd_suppressions_list(args: argparse.Namespace) -> int:
    from dsnworker.listings import print_suppressions
    from dsnworker.worker.config import load_settings

    settings = load_settings(args.config)
    sinks = [s for s in settings.sinks if s.kind == "suppression_file" and (not args.sink or s.name == args.sink)]
    if not sinks or sinks[0].path is None:
        raise DsnworkerError(
            f"{args.config}: no suppression_file sink" + (f" named {args.sink!r}" if args.sink else "")
        )
    print_suppressions(sinks[0].path, sinks[0].format, args.format)
    return 0


def _state(args: argparse.Namespace) -> tuple[Settings, Store]:
    from dsnworker.worker.config import load_settings
    from dsnworker.worker.stores import open_store

    settings = load_settings(args.config)
    if args.sink is not None:
        _webhook_sink(settings, args)
    return settings, open_store(settings)


def _webhook_sink(settings: Settings, args: argparse.Namespace) -> SinkSettings:
    for sink in settings.sinks:
        if sink.name == args.sink and sink.kind == "webhook":
            return sink
    raise DsnworkerError(f"{args.config}: no webhook sink named {args.sink!r}")


def _cmd_outbox_list(args: argparse.Namespace) -> int:
    from dsnworker.listings import print_outbox

    settings, store = _state(args)
    rows = store.webhook_queue_rows(args.sink, args.dead)
    notes = []
    for sink in settings.sinks:
        state = store.webhook_sink(sink.name)
        if sink.kind == "webhook" and state.gone_at is not None and args.sink in (None, sink.name):
            notes.append(
                f"sink {sink.name}: endpoint gone ({state.gone_detail}); delivery stopped until `outbox retry --all`"
            )
    print_outbox(rows, notes, args.format)
    return 0


def _cmd_outbox_retry(args: argparse.Namespace) -> int:
    import time

    settings, store = _state(args)
    count = store.webhook_retry(args.sink, args.id, time.time())
    if args.all:
        for sink in settings.sinks:
            if sink.kind == "webhook" and args.sink in (None, sink.name) and store.webhook_sink(sink.name).gone_at:
                store.webhook_gone(sink.name, None, None)
                print(f"sink {sink.name}: delivery started again")
    if args.id and not count:
        raise DsnworkerError(f"no dead letter with id {args.id!r}")
    print(f"{count} dead letter(s) queued again; the worker sends them on its next round")
    return 0


def _cmd_webhook_test(args: argparse.Namespace) -> int:
    from dsnworker.sinks.webhook import WebhookClient, load_secrets
    from dsnworker.worker.config import load_settings
    from dsnworker.worker.events import sample_event

    sink = _webhook_sink(load_settings(args.config), args)
    client = WebhookClient(sink, load_secrets(sink))
    event = sample_event()
    result = client.post([event])
    client.close()
    status = result.status if result.status is not None else "no answer"
    print(f"sent {event['type']} {event['id']} to {sink.url}: {status} -> {result.outcome} ({result.detail})")
    return 0 if result.outcome == "delivered" else 1


if __name__ == "__main__":
    sys.exit(main())
