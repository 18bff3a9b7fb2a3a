"""Measurement: ``qa eval`` (questions files, the reader alone on SQuAD, the open-book SQuAD
benchmark), and the benchmark corpora built from SQuAD. Maintainer tooling: nothing in the
core imports it."""
