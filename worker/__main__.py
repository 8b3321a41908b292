"""`python -m worker`: the outbox relay, the bus consumers and the webhook sender, against RabbitMQ.

The same as `tiertrace worker`. Configuration comes from TIERTRACE_* environment variables
(TIERTRACE_DATABASE_URL, TIERTRACE_AMQP_URL, TIERTRACE_BUS_PREFIX, …). SIGTERM or Ctrl-C finishes the
messages in hand, acknowledges them and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tiertrace.config import Settings
from worker.process import ALL_CONSUMERS, configure_logging, run_worker
from worker.rabbitmq import DEFAULT_PREFETCH


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of `python -m worker`."""
    parser = argparse.ArgumentParser(
        prog="python -m worker",
        description="Run the tiertrace bus: the outbox relay, the consumers (propagate, merge, notify) "
        "and the webhook sender, against the RabbitMQ broker of TIERTRACE_AMQP_URL. Several workers may "
        "run at once.",
    )
    parser.add_argument(
        "--consumers",
        default=",".join(ALL_CONSUMERS),
        help=f"comma-separated consumers to run (default: {','.join(ALL_CONSUMERS)}); empty for none",
    )
    parser.add_argument(
        "--no-relay", action="store_true", help="do not publish outbox rows from this process"
    )
    parser.add_argument(
        "--no-webhooks", action="store_true", help="do not POST webhook notifications from here"
    )
    parser.add_argument(
        "--prefetch",
        type=int,
        default=DEFAULT_PREFETCH,
        help=f"unacked deliveries per consumer ({DEFAULT_PREFETCH})",
    )
    parser.add_argument("--concurrency", type=int, default=1, help="handler threads per consumer (1)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (INFO)")
    args = parser.parse_args(argv)
    args.consumers = [name for name in args.consumers.split(",") if name]
    unknown = set(args.consumers) - set(ALL_CONSUMERS)
    if unknown:
        parser.error(f"unknown consumers: {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    return run_worker(
        Settings.from_env(),
        consumers=args.consumers,
        relay=not args.no_relay,
        webhooks=not args.no_webhooks,
        prefetch=args.prefetch,
        concurrency=args.concurrency,
    )


if __name__ == "__main__":
    sys.exit(main())
