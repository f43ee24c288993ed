"""Developer tools: library parity with upstream Dex (`parity`), the library
reference generator (`docgen`)."""
