"""Read-modify-write of benchmarks/results.json, one key per benchmark script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")


def merge(key: str, figures: dict[str, Any]) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = figures
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
