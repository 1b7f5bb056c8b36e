"""A served worker's interpreter settings, as Granian's call of the app factory leaves them (kopek.api.serving)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kopek.api.serving import SETTINGS_VARIABLE, SWITCH_INTERVAL_SECONDS

_FACTORY_CALL = "import sys; from kopek.api.serving import app_from_environment; app_from_environment(); print(sys.getswitchinterval())"


def test_the_app_factory_shortens_the_switch_interval_of_its_worker(tmp_path: Path) -> None:
    settings = {"database_url": f"sqlite:///{tmp_path / 'kopek.db'}", "item_files_directory": str(tmp_path / "items")}
    environment = {**os.environ, SETTINGS_VARIABLE: json.dumps(settings)}
    # In a process of its own, as a worker is: the factory changes a setting of the whole interpreter.
    done = subprocess.run([sys.executable, "-c", _FACTORY_CALL], env=environment, capture_output=True, text=True, timeout=120, check=True)
    assert float(done.stdout.strip().splitlines()[-1]) == SWITCH_INTERVAL_SECONDS
