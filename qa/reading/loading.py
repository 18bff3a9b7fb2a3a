"""The reader and its answer pipeline as the settings name them: the weights, their
precision, the answer scorer fitted for them (``qa fit --reader`` writes one into the data
directory), the answer kinds. Answers are off, with the reason logged, when the reader
cannot be loaded."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from index.backend import Backend
from index.hardware import ComputeGate
from qa.reading.answer_kind import KindModel
from qa.reading.pipeline import AnswerPipeline
from qa.reading.reader import Reader, ReaderUnavailable
from qa.reading.scorer import AnswerScorer
from qa.retrieval.proximity import TermPositions
from qa.settings import DEFAULT_SCORER, Settings

log = logging.getLogger("qa.engine")


def fitted_scorer_path(data_dir: Path, weights_sha256: str) -> Path:
    """Where ``qa fit --reader`` writes the answer scorer of a reader (by its weights)."""
    return data_dir / f"answer_scorer-{weights_sha256[:16]}.json"


def load_answerer(
    settings: Settings,
    index: Backend,
    gate: ComputeGate,
    precision: str,
    positions: TermPositions | None = None,
) -> tuple[Reader | None, AnswerPipeline | None]:
    """The reader (with ``precision``, sharing the compute ``gate``) and its pipeline (given
    the retriever's term ``positions``); both None when answers are off (``reader=False``)
    or the reader cannot be loaded."""
    if not settings.reader:
        return None, None
    try:
        reader = Reader(
            settings.reader_path,
            precision=precision,
            max_windows=settings.max_windows_per_question,
            max_windows_per_call=settings.max_windows_per_request,
        )
        reader.gate = gate
        answerer = AnswerPipeline(
            reader,
            index,
            answer_scorer(settings, reader.info),
            settings.answer_threshold,
            settings.corroborate,
            settings.corroborate_context,
            KindModel.load(settings.answer_kinds) if settings.answer_kinds else None,
            positions,
        )
    except (ReaderUnavailable, OSError, ValueError, KeyError) as exc:
        log.warning("answers are off: %s", exc)
        return None, None
    return reader, answerer


def answer_scorer(settings: Settings, reader: dict[str, Any]) -> AnswerScorer:
    """The scorer fitted for this reader: one ``qa fit --reader`` wrote into the data
    directory for its weights, else the shipped one (for a reader trained here, or when
    ``answer_scorer`` names a file), else the uncalibrated fallback."""
    fitted = fitted_scorer_path(settings.data_dir, str(reader.get("weights_sha256", "")))
    if fitted.exists():
        return AnswerScorer.load(fitted)
    if reader.get("trained_here", True) or settings.answer_scorer != DEFAULT_SCORER:
        return AnswerScorer.load(settings.answer_scorer)
    log.warning(
        "the reader in %s was not trained here and no answer scorer is fitted for it: answers are "
        "scored by its span probability alone (uncalibrated) until `qa fit --reader %s` fits one",
        settings.reader_path,
        settings.reader_path,
    )
    return AnswerScorer.fallback()
