"""The environment genseg's commands run in, set before any library reads it.

genseg stays offline unless the user says otherwise; `genseg push` goes online for its upload
unless the user set HF_HUB_OFFLINE themselves (what they set is kept here, before the default).
"""

from __future__ import annotations

import os

USER_HUB_OFFLINE = os.environ.get("HF_HUB_OFFLINE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the libraries' own loading/saving bars ("Loading weights", "Writing model shards") would sit
# between genseg's progress bars and its one-line errors; HF_HUB_DISABLE_PROGRESS_BARS=0 shows them
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
