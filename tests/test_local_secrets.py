"""`make run` writes its own secrets into .env on first run, and never replaces them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ensure_env(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure-env.sh"), ".env", ".env.example"],
        cwd=folder,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=True,
    )


def test_the_first_run_generates_a_private_random_passphrase(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(ROOT / ".env.example", other / ".env.example")

    first = _ensure_env(tmp_path)
    _ensure_env(other)

    assert "generated JWT_KEY_PASSPHRASE" in first.stdout
    text = (tmp_path / ".env").read_text()
    (passphrase,) = re.findall(r"^JWT_KEY_PASSPHRASE=(\S+)$", text, re.M)
    assert len(passphrase) >= 40
    assert passphrase != "clientele-development-only-passphrase"
    assert passphrase not in (other / ".env").read_text()
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0


def test_a_later_run_keeps_the_passphrase_the_keys_are_encrypted_with(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    _ensure_env(tmp_path)
    before = (tmp_path / ".env").read_text()

    _ensure_env(tmp_path)

    assert (tmp_path / ".env").read_text() == before


def test_an_old_env_without_a_passphrase_is_pointed_out(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=INFO\n")

    result = _ensure_env(tmp_path)

    assert "development default" in result.stdout
    assert (tmp_path / ".env").read_text() == "LOG_LEVEL=INFO\n"
