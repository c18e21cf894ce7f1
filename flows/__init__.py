"""The conversation content: the YAML here is shipped with the package (bot/paths.py)."""
