"""Reading: the extractive span reader, span decoding, answer aggregation and scoring, and
the reader's training recipe (``python -m qa.reading.train``).

Takes passages from retrieval and returns answers; knows nothing of the CLI or the tooling.
"""
