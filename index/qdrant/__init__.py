"""The Qdrant back end (a cluster, a server or a local-mode folder; optional extra)."""
