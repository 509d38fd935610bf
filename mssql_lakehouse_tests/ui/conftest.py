"""Where the browser suite's screenshots go, printed at the end of the session."""

from __future__ import annotations

from pathlib import Path

import pytest

_folders: list[Path] = []


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ui-screenshots")
    _folders.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter) -> None:
    for folder in _folders:
        terminalreporter.write_line(f"Screenshots of the browser suite: {folder}")
