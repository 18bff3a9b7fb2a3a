"""The local back end: one data directory holding SQLite, FAISS and BM25."""
