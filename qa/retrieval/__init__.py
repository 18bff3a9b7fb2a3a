"""Retrieval: from a question to ranked passages (dense + BM25 candidates, fusion, re-ranking).

Reads the index (``index/``) and returns ``qa.schemas.Passage``; knows nothing of readers,
answers, the CLI or the tooling.
"""

from qa.retrieval.retriever import MODES, HybridRetriever, as_passage

__all__ = ["MODES", "HybridRetriever", "as_passage"]
