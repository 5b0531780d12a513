"""One writer per corpus: a lock file that names its holder.

A second writer fails at once with the holder's command, host and pid. A lock left by a process
that died (SIGKILL, a crash) on this host is taken over, so a killed run can simply be rerun.
On object stores there is no atomic create; there the lock is best effort.
"""

from __future__ import annotations

import os
import socket
import time

import orjson
import psutil

from curation import filesystems
from curation.errors import CorpusLocked


class WriterLock:
    def __init__(self, fs, path: str, command: str):
        self.fs = fs
        self.path = path
        self.holder = {
            "command": command,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        data = orjson.dumps(self.holder)
        for _ in range(2):
            if self._create_exclusive(data):
                return
            holder = self._read_holder()
            if holder is None or self._is_stale(holder):
                self._remove()
                continue
            raise CorpusLocked(self._message(holder))
        raise CorpusLocked(f"could not take the lock {self.path}")

    def check_free(self) -> None:
        """Fail now, as ``acquire`` would, when a live process holds the lock: a check before slow
        start-up (a Prefect server, a Dask cluster). ``acquire`` still decides."""
        holder = self._read_holder()
        if holder is not None and not self._is_stale(holder):
            raise CorpusLocked(self._message(holder))

    def _message(self, holder: dict) -> str:
        return (f"corpus is locked by `{holder.get('command')}` (pid {holder.get('pid')} on "
                f"{holder.get('host')} since {holder.get('since')}); wait for it to finish, "
                f"or remove {self.path} if that process is gone")

    def release(self) -> None:
        holder = self._read_holder()
        if holder and holder.get("pid") == self.holder["pid"] and holder.get("host") == self.holder["host"]:
            self._remove()

    def _create_exclusive(self, data: bytes) -> bool:
        if filesystems.is_local(self.fs):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return True
        if self.fs.exists(self.path):
            return False
        with self.fs.open(self.path, "wb") as handle:
            handle.write(data)
        return True

    def _read_holder(self) -> dict | None:
        try:
            with self.fs.open(self.path, "rb") as handle:
                return orjson.loads(handle.read())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None

    def _is_stale(self, holder: dict) -> bool:
        if holder.get("host") != self.holder["host"]:
            return False
        pid = holder.get("pid")
        return not (isinstance(pid, int) and psutil.pid_exists(pid))

    def _remove(self) -> None:
        try:
            self.fs.rm(self.path)
        except FileNotFoundError:
            pass
