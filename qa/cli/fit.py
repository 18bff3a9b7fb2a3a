"""``qa fit --reader PATH``: fit the answer scorer of another reader into the data directory."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from qa.errors import QAError


def cmd_fit(args: argparse.Namespace) -> int:
    from qa.evaluation import fit
    from qa.reading.loading import fitted_scorer_path
    from qa.reading.reader import ReaderUnavailable, local_model, verify_weights
    from qa.settings import Settings

    try:
        folder = local_model(args.reader, "reader")
        info = verify_weights(folder)
    except (FileNotFoundError, ReaderUnavailable) as exc:
        raise QAError(str(exc)) from None
    data_dir = Path(args.data_dir) if args.data_dir else Settings().data_dir
    out = fitted_scorer_path(data_dir, str(info["weights_sha256"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    os.environ["QA_READER_PATH"] = str(folder)  # the open books of the fit read with this reader
    print(f"fitting the answer scorer of {folder} on SQuAD train episodes into {out} (this takes a while)")
    return fit.main(
        ["--train", args.train, "--out", str(out), "--work", str(data_dir / "fit"), *args.fit_args]
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "fit",
        help="fit the answer scorer for another reader (a folder or Hugging Face id) into the data "
        "directory; the engine then uses it for that reader",
    )
    p.add_argument(
        "--reader", required=True, help="the reader: a folder, or a Hugging Face id (QA_ALLOW_DOWNLOADS)"
    )
    p.add_argument("--train", default="../shared/data/squad/train-v1.1.json", help="SQuAD v1.1 train JSON")
    p.add_argument("--data-dir", help="where the scorer goes (default: QA_DATA_DIR or data/)")
    p.add_argument("fit_args", nargs=argparse.REMAINDER, help="passed to python -m qa.evaluation.fit")
    p.set_defaults(func=cmd_fit)
