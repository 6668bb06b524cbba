"""A genseg plugin for the ``example`` domain. The hooks live in :mod:`genseg_example.plugin`."""

__version__ = "0.1.0"
