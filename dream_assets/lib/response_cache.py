"""The LLM response caches (trial answers, the synthetic generator's and the judge's responses):
JSON values by key in one SQLite file per directory, shared by the processes of one node.

Values are JSON, never pickles: diskcache, which held these caches before, unpickles what its
database holds (CVE-2025-69872, no upstream fix), so whoever can write a node's cache directory
could run code in every trial there. A read that fails (a damaged file, a value that is not JSON)
is a miss, logged, and the caller asks the LLM again; a write that fails is logged and dropped.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FILE_NAME = "responses.sqlite3"
# Bytes of JSON kept before the oldest entries go (4 GiB, diskcache's limit as DREAM set it).
SIZE_LIMIT = 2**32
# Writes between two looks at the total size.
_CULL_EVERY = 256


class ResponseCache:
    """A process-safe, thread-safe on-disk map of string keys to JSON values (SQLite in WAL mode,
    waiting up to `timeout_s` for another process' write).

    Args:
        directory: where its file (`FILE_NAME`) lives; created if missing.
        size_limit: bytes of JSON kept; past it the oldest entries are removed.
        timeout_s: seconds an operation waits for the database's lock.

    Raises:
        sqlite3.Error: if the file cannot be opened or created (a damaged file is moved aside and
            a new one started instead).
    """

    def __init__(self, directory: str | Path, size_limit: int = SIZE_LIMIT, timeout_s: float = 60.0) -> None:
        self.directory, self.size_limit, self.timeout_s = Path(directory), size_limit, timeout_s
        self._lock = threading.Lock()
        self._writes = 0
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / FILE_NAME
        try:
            return self._connect(path)
        except sqlite3.DatabaseError as error:  # not a database: set aside, start anew
            aside = path.with_name(f"{FILE_NAME}.damaged-{int(time.time())}")
            logger.warning("response cache %s is damaged (%s): moved to %s", path, error, aside.name)
            path.replace(aside)
            return self._connect(path)

    def _connect(self, path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS responses"
            " (key TEXT PRIMARY KEY, value TEXT NOT NULL, size INTEGER NOT NULL, stored_at REAL NOT NULL)"
        )
        return db

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored at `key`, else `default`; a read that fails is a miss (logged)."""
        try:
            with self._lock:
                row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
            return json.loads(row[0]) if row is not None else default
        except (sqlite3.Error, ValueError) as error:
            logger.warning("response cache %s: read of %s failed, a miss: %s", self.directory, key[:16], error)
            return default

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        """Stores `value` (JSON-serialisable) at `key`; a write that fails is logged, not raised.

        Raises:
            TypeError: if `value` is not JSON-serialisable (a programming error).
        """
        text = json.dumps(value, ensure_ascii=False)
        try:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses (key, value, size, stored_at) VALUES (?, ?, ?, ?)",
                    (key, text, len(text), time.time()),
                )
                self._writes += 1
                if self._writes % _CULL_EVERY == 0:
                    self._cull()
        except sqlite3.Error as error:
            logger.warning("response cache %s: write of %s failed, dropped: %s", self.directory, key[:16], error)

    def _cull(self) -> None:
        """Removes the oldest entries while the stored JSON is over `size_limit` bytes."""
        total = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()[0]
        while total > self.size_limit:
            oldest = self._db.execute("SELECT key, size FROM responses ORDER BY stored_at LIMIT 1000").fetchall()
            if not oldest:
                return
            self._db.executemany("DELETE FROM responses WHERE key = ?", [(key,) for key, _ in oldest])
            total -= sum(size for _, size in oldest)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Closes the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:  # sent to Ray workers: reopened there by path
        return {"directory": self.directory, "size_limit": self.size_limit, "timeout_s": self.timeout_s}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["directory"], state["size_limit"], state["timeout_s"])
