"""The built-in block languages, format half: one module per language."""
