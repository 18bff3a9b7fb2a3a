"""Checks of what a caller sends (questions, counts, text, metadata), each failing with the
core's error that names what is wrong."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from qa.errors import DocumentTooLarge, InvalidDocument, InvalidQuestion, InvalidRequest, QAError
from qa.schemas import MAX_K, MAX_QUESTION_CHARS

_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_METADATA_DEPTH = 5
MAX_METADATA_BYTES = 16_384


def check_k(name: str, k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise InvalidRequest(f"{name} must be between 1 and {MAX_K}")


def check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestion("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQuestion(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    check_text(question, "the question", InvalidQuestion)
    return question.strip()


def check_text(value: str, what: str, error: type[QAError] = InvalidRequest) -> None:
    """Text must be valid Unicode: a lone UTF-16 surrogate ("\\ud800" in JSON) cannot be
    stored, encoded or shown, so it is refused where it enters."""
    found = _SURROGATE.search(value)
    if found:
        raise error(
            f"{what} holds a lone UTF-16 surrogate (U+{ord(found.group()):04X}) at character "
            f"{found.start()}; send valid Unicode"
        )


def check_filter_values(metadata: dict[str, Any] | None) -> None:
    """A metadata filter compares with JSON values: NaN and Infinity are none."""
    for key, value in (metadata or {}).items():
        if isinstance(value, list | dict):
            raise InvalidRequest(
                f"metadata filter {key!r}: a filter value is a string, number, boolean or null"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequest(f"metadata filter {key!r} is {value}: JSON has no NaN or Infinity")


def check_metadata(metadata: dict[str, Any]) -> None:
    """Metadata: valid Unicode, nested at most ``MAX_METADATA_DEPTH`` deep, at most
    ``MAX_METADATA_BYTES`` as JSON (it is returned with every document listing)."""

    def walk(value: Any, depth: int) -> None:
        if depth > MAX_METADATA_DEPTH:
            raise InvalidDocument(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidDocument(f"metadata holds {value}: JSON has no NaN or Infinity")
        if isinstance(value, str):
            check_text(value, "metadata", InvalidDocument)
        elif isinstance(value, dict):
            for key, item in value.items():
                check_text(str(key), "a metadata key", InvalidDocument)
                walk(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, depth + 1)

    walk(metadata, 1)
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise DocumentTooLarge(f"metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}")
