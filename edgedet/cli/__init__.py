"""The ``edgedet`` command line: thin commands over the library, imports made lazily."""
