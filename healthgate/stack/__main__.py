"""``python -m healthgate.stack up [COMPONENT...]``: run the hermetic stack until Ctrl-C.

Prints the stack's variables as ``export`` lines (eval-able in a shell) on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from types import FrameType

from healthgate.stack.stack import ALL_COMPONENTS, Stack, StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m healthgate.stack", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the stack, print its variables, stop it on Ctrl-C")
    up.add_argument(
        "components",
        nargs="*",
        metavar="COMPONENT",
        help=f"components to run (default: all of {', '.join(ALL_COMPONENTS)})",
    )
    args = parser.parse_args(argv)
    try:
        stack = Stack(args.components or None)
    except StackError as exc:
        parser.error(str(exc))
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    # Set explicitly: a shell starting us in the background makes us ignore SIGINT otherwise.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    print(f"starting {', '.join(stack.components or [])} ...", file=sys.stderr, flush=True)
    try:
        stack.start()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        for key, value in stack.env().items():
            print(f"export {key}={shlex.quote(value)}")
        timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in stack.timings.items())
        print(f"# ready ({timings}); Ctrl-C stops and removes it", file=sys.stderr, flush=True)
        sys.stdout.flush()
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping ...", file=sys.stderr, flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
