"""A MariaDB server of one test or bench run alone, stopped and started at will.

The chaos suite takes the database away for a while; doing that to the shared server on
3306 would fail every other test (and engineer) using it. deploy/mariadb.sh runs this one
on a free port with its own data folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.private_kafka import free_port

MARIADB_SH = Path(__file__).parents[2] / "deploy" / "mariadb.sh"


class PrivateMariaDB:
    """``deploy/mariadb.sh start|stop`` on a free port, data in ``home``."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "KBRIDGE_MARIADB_HOME": str(home),
            "KBRIDGE_MARIADB_PORT": str(self.port),
        }
        self.url = f"mysql+pymysql://kbridge:kbridge@127.0.0.1:{self.port}/kbridge_test"

    def _run(self, action: str) -> None:
        subprocess.run(
            ["bash", str(MARIADB_SH), action],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        """Start (returns once the server accepts connections)."""
        self._run("start")

    def stop(self) -> None:
        self._run("stop")
