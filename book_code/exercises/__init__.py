"""Solutions to the coding exercises at the end of each chapter, one module per chapter."""
