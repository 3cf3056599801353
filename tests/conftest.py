"""Suite-wide settings: everything offline, nothing written outside temporary directories."""

from __future__ import annotations

import os
import tempfile

# No test may reach a model hub or GitHub: libraries that would try get told they are offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# ultralytics writes a settings file on import; keep it out of the user's home.
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="retouch-yolo-"))
