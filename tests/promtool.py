"""`promtool check metrics` (Debian's prometheus package) on a daemon's live exposition."""

from __future__ import annotations

import shutil
import subprocess


def assert_clean_for_promtool(exposition: str | bytes) -> None:
    """No error and no lint warning: counters end in _total, help texts, label names."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (scripts/apt-packages.txt)"
    text = exposition.decode() if isinstance(exposition, bytes) else exposition
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result
    )
