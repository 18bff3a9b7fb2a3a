"""The ``qa`` command: serve, search, ask, index, add, delete, export, follow, eval, mcp.

Each command (``qa.cli.serve``, ``reading``, ``writing``, ``feeds``, ``backup``,
``agents``, ``fit``, ``measure``; the parser in ``qa.cli.parser``) parses its arguments,
calls the service through ``qa.Client`` (or, with ``--local``, the engine here), and
prints; errors become one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import os
import sys

from pydantic import ValidationError

from qa.cli.parser import build_parser
from qa.errors import QAError, ServiceBusy, ServiceUnreachable


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # `qa ... | head`: the reader left; say nothing more, like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except ServiceBusy as exc:
        print(f"qa: {exc}", file=sys.stderr)
    except ServiceUnreachable as exc:
        print(f"qa: {exc}. Start it with `qa serve` (or set --url / QA_URL).", file=sys.stderr)
    except QAError as exc:
        said = f"the service refused the request: {exc}" if exc.status is not None else str(exc)
        print(f"qa: {said}", file=sys.stderr)
    except ValidationError as exc:  # a QA_* setting that cannot be taken
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            print(f"qa: setting QA_{where.upper()}: {error['msg']}", file=sys.stderr)
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
