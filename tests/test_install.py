"""install.sh refuses an interpreter the pinned packages do not support, before it installs anything."""
import shutil
import subprocess

import pytest

from conftest import ROOT


@pytest.mark.parametrize("version", ["3.10.12", "3.14.0"])
def test_install_sh_names_the_supported_python_versions(tmp_path, version):
    shutil.copy(ROOT / "install.sh", tmp_path / "install.sh")  # it works in its own folder: keep .venv out of ROOT
    python = tmp_path / "old" / "python"
    python.parent.mkdir()
    major, minor, _ = version.split(".")
    # Answers the version check as that Python would, and --version likewise.
    python.write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo "Python {version}" && exit 0\n'
                      'exec python3 -c "import sys; '
                      f'sys.version_info = ({major}, {minor}, 0); exec(sys.argv[1])" "$2"\n')
    python.chmod(0o755)
    result = subprocess.run(["bash", str(tmp_path / "install.sh")], env={"PATH": "/usr/bin:/bin",
                            "PYTHON": str(python)}, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"install.sh: {python} is Python {version}; the pinned packages need Python 3.11, 3.12 or 3.13 "
        "(set PYTHON=...)")
    assert not (tmp_path / ".venv").exists()
