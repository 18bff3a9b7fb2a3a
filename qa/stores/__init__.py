"""Where the passages live, as the core opens and checks it (``qa.stores.opening``)."""
