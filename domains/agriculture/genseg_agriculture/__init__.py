"""genseg plugin: agriculture (field, drone and leaf imagery)."""

__version__ = "0.1.0"
