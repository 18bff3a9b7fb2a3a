"""Text handling: corpus files, input formats, article metadata, paragraphs and terms."""
