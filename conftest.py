"""Repository-wide pytest settings: every test and notebook run is offline and in the smoke profile
unless a test says otherwise (the cpu-profile learning checks pass PROFILE explicitly)."""

import os

os.environ.setdefault("RLKIT_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
