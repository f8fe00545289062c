"""The ``fastscheduler`` command line.

Subcommands so far: ``cron`` (next fire times of an expression). Exit codes: 0 success,
2 bad usage or bad input (the message says where the error is).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

from fastscheduler import CronError, CronExpr, UnknownTimeZoneError


def _cmd_cron(args: argparse.Namespace) -> int:
    try:
        expr = CronExpr(args.expression, tz=args.tz)
    except (CronError, UnknownTimeZoneError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = datetime.now(timezone.utc) if args.after is None else datetime.fromisoformat(args.after)
    try:
        fires = expr.next_n(start, args.n)
    except CronError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        payload = {
            "expression": expr.expression,
            "tz": expr.tz,
            "fixed_time": expr.is_fixed_time,
            "next": [f.isoformat() for f in fires],
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(f"{expr.expression!r} in {expr.tz}")
    for f in fires:
        print(f"  {f.isoformat()}  ({f.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%SZ')})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="fastscheduler", description="fastscheduler command line")
    sub = parser.add_subparsers(dest="command", required=True)
    cron = sub.add_parser("cron", help="show the next fire times of a cron expression")
    cron.add_argument("expression", help='a cron expression, e.g. "0 9 * * MON-FRI"')
    cron.add_argument("--tz", default="UTC", help="IANA time zone (default UTC)")
    cron.add_argument("-n", type=int, default=10, help="how many fire times (default 10)")
    cron.add_argument("--after", help="ISO datetime to start from (default: now)")
    cron.add_argument("--json", action="store_true", help="machine-readable output")
    cron.set_defaults(func=_cmd_cron)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
