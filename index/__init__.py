"""Documents -> paragraphs -> embeddings -> FAISS + BM25 + passage store, on disk."""
