"""The flow language: YAML files that script the conversation, checked and compiled once."""
