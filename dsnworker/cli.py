"""The `dsnworker` command: parse, explain, rules check."""

from __future__ import annotations

import argparse
import gc
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dsnworker.errors import DsnworkerError

if TYPE_CHECKING:  # imported late at run time: `--help` should not pay for flanker and the rules
    from dsnworker.analyse import Analyser


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
        print(f"dsnworker: {exc}", file=sys.stderr)
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
    parser = argparse.ArgumentParser(prog="dsnworker", description="Bounce (DSN) processor.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    parse = commands.add_parser("parse", help="classify bounces: one JSON line (or table row) per recipient")
    parse.add_argument(
        "paths", nargs="+", metavar="PATH", help="a message file, a folder, an mbox file, or - for stdin"
    )
    parse.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    _rules_option(parse)
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
    return parser


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
    from dsnworker.analyse import Analyser

    return Analyser.with_rules(tuple(Path(d) for d in args.rules))


def _cmd_parse(args: argparse.Namespace) -> int:
    from dsnworker.inputs import iter_messages
    from dsnworker.output import outcome_record, table_header, table_row

    analyser = _analyser(args)
    # the loaded rules live as long as the process: the cyclic collector's full passes need not
    # walk them again and again
    gc.freeze()
    out: TextIO = sys.stdout
    unreadable = _Unreadable()
    if args.format == "table":
        out.write(table_header() + "\n")
    to_json = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps would build one per record
    for source, data in iter_messages(args.paths, unreadable.report):
        for outcome in analyser.analyse(data, source):
            record = outcome_record(outcome)
            if args.format == "jsonl":
                out.write(to_json(record) + "\n")
            else:
                out.write(table_row(record) + "\n")
    out.flush()
    # every readable message was still processed; the exit status says that some input was not
    return 1 if unreadable.paths else 0


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


if __name__ == "__main__":
    sys.exit(main())
