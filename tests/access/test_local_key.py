"""With DEBUG=1 and no SECRET_KEY, an installation makes its own key under its var directory (issue 10, item 13)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def start(var_dir: Path) -> subprocess.Popen:
    """Start a process that loads the settings (DEBUG=1, no key given) and prints the key it got."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "BATON_SECRET_KEY")}
    env.update({"DEBUG": "1", "BATON_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "config.settings"})
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)


def keys_of(processes: list[subprocess.Popen]) -> set[str]:
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)
    return keys


def test_a_debug_installation_makes_its_own_key_once(tmp_path):
    first = keys_of([start(tmp_path / "var") for _ in range(4)])  # make run starts its processes at once
    assert len(first) == 1
    key = first.pop()
    assert len(key) >= 50 and key != "insecure-embedded-default-key-change-me"
    path = tmp_path / "var" / "secret_key"
    assert path.read_text().strip() == key and stat.S_IMODE(path.stat().st_mode) == 0o600
    files = sorted(p.name for p in path.parent.iterdir() if p.is_file())  # the embedded broker has its folder here
    assert files == ["secret_key"]  # no candidate left behind
    assert keys_of([start(tmp_path / "var")]) == {key}  # kept across restarts
    assert keys_of([start(tmp_path / "other")]) != {key}  # each installation its own


def test_the_default_key_file_is_never_committed():
    done = subprocess.run(["git", "check-ignore", "-q", "var/secret_key"], cwd=REPO, check=False)
    assert done.returncode == 0
