"""How news comes in besides a request: feeds the service follows (``feeds``)."""
