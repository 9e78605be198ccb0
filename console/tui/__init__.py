"""The Textual interface. The only package that imports Textual (a test enforces it)."""
