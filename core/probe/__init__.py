"""Seg4Diff attention probe: zero-shot masks read from an MM-DiT's image-to-text joint attention."""
