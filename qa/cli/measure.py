"""``qa eval``: the benchmarks, through ``qa.evaluation``."""

from __future__ import annotations

import argparse


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.evaluation import evaluate

    return evaluate.main(args)
