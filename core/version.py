"""genseg's version, in one place: the package, its metadata and the records it writes read it."""

__version__ = "0.1.0"
