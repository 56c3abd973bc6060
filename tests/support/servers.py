"""Running a real server in a test: a free 127.0.0.1 port, and an environment without LDNCDS_ settings."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LDNCDS_")}


def source_env(**settings: str) -> dict[str, str]:
    """`clean_env()` for a child Python that imports this checkout's `src/`, plus `settings`."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    return clean_env() | {"PYTHONPATH": path} | settings
