"""genseg's plugin system (pluggy): hook specs, the plugin manager and the built-in plugin."""

from genseg.plugins.hookspecs import GENSEG_HOOKSPEC_VERSION, hookimpl, hookspec

__all__ = ["GENSEG_HOOKSPEC_VERSION", "hookimpl", "hookspec"]
