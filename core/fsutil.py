"""Files and folders a user points llm-tui at: atomic writes, writability checks, locks, and OS errors in words.

- ``atomic_write_text(path, text)``: the one way to replace a file whole (results.json, chat files, transcripts,
  settings, asset stamps): written beside it, fsynced, renamed over it; a failure leaves the old file and no
  temporary behind.
- ``check_writable_dir(path, what)``: the same proof without creating anything (checks before the work starts).
- ``ensure_writable_dir(path, what)``: create the folder if needed and prove a file can be written there,
  before any model work, so a read-only mount or a file in the way is reported in seconds.
- ``exclusive(path, what)``: an exclusive lock (``filelock``) held for as long as a run, a download or a
  conversion lasts; a second process is refused (or, with ``wait=True``, waits) and is told who holds it. The
  lock is the kernel's (``flock``): a process that dies, even by ``kill -9``, releases it, so no stale lock
  outlives its owner.
- ``fs_error(exc, path, what)``: a foreseeable ``OSError`` (no space, read-only, permission, a file where a
  folder should be...) as a one-line ``UserInputError`` naming the path and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from .errors import UserInputError

LOCK_NAME = ".llm-tui.lock"


def fs_error(exc: OSError, path: str | os.PathLike[str], what: str) -> UserInputError:
    """One line naming ``path`` (what the user called it: ``what``), what went wrong and what to do."""
    where = str(path)
    code = exc.errno
    if code == errno.ENOSPC or code == errno.EDQUOT:
        return UserInputError(
            f"no space left on the device holding {where} ({what}); free space there or choose another {what}"
        )
    if code == errno.EROFS:
        return UserInputError(f"{where} is on a read-only file system; choose a writable {what}")
    if code in (errno.EACCES, errno.EPERM):
        return UserInputError(
            f"permission denied for {where}; choose a {what} you can write to (or fix its permissions)"
        )
    if code == errno.ENOTDIR:
        return UserInputError(f"{where}: a part of this path is a file, not a folder; choose another {what}")
    if code == errno.EEXIST or code == errno.EISDIR:
        return UserInputError(
            f"{where} is in the way (a file where a folder is needed, or the reverse); choose another {what}"
        )
    if code == errno.ENOENT:
        return UserInputError(f"{where} does not exist and cannot be created there; choose another {what}")
    if code == errno.ENAMETOOLONG:
        return UserInputError(f"{where}: the name is too long for the file system; choose a shorter {what}")
    reason = exc.strerror or type(exc).__name__
    return UserInputError(f"cannot write {where} ({reason}); check the {what} and its file system")


def is_disk_full(exc: BaseException) -> bool:
    """True for an ENOSPC/EDQUOT OSError, or an error whose text says so (libraries that re-wrap it)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "no space left on device" in text or "disk quota exceeded" in text


def ensure_writable_dir(path: str | os.PathLike[str], what: str) -> Path:
    """Create ``path`` (and its parents) if needed and check a file can be written in it."""
    folder = Path(path).expanduser()
    try:
        if folder.exists() and not folder.is_dir():
            raise UserInputError(f"{folder} is a file, not a folder; choose another {what}")
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fs_error(exc, folder, what) from None
    _probe(folder, folder, what)
    return folder


def _probe(folder: Path, named: Path, what: str) -> None:
    """Write and remove an empty file in ``folder``; a failure is a one-line error naming ``named``."""
    probe = folder / f".llm-tui-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise fs_error(exc, named, what) from None


def check_writable_dir(path: str | os.PathLike[str], what: str) -> Path:
    """Check, without creating anything, that ``path`` is or could be made a writable folder: no file stands
    where a folder must be, and the nearest existing folder on the way takes a file (probed, then removed)."""
    folder = Path(path).expanduser().absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserInputError(f"{existing} is a file, not a folder; choose another {what}")
    _probe(existing, folder, what)
    return folder


def ensure_writable_file(path: str | os.PathLike[str], what: str) -> Path:
    """Check that ``path`` (a file to be written later) can be written: its folder exists or can be made, and
    takes a file; it is not a folder itself."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise UserInputError(f"{what} {target} is a folder; give a file name such as {target / 'out.json'}")
    ensure_writable_dir(target.parent, f"folder for the {what}")
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, what: str = "output file") -> None:
    """Replace ``path`` with ``data`` all at once (a reader sees the old file or the new one, never half)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise fs_error(exc, target, what) from None


def atomic_write_text(path: str | os.PathLike[str], text: str, what: str = "output file") -> None:
    atomic_write_bytes(path, text.encode("utf-8"), what)


def atomic_write_json(path: str | os.PathLike[str], data: object, what: str = "output file") -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", what)


def _owner_line() -> str:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": started})


def _describe_owner(info: Path) -> str:
    try:
        owner = json.loads(info.read_text())
        return f"process {owner['pid']} on {owner['host']}, since {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def exclusive(
    lock_path: str | os.PathLike[str],
    what: str,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` for the ``with`` block.

    ``wait=False``: taken already -> UserInputError naming the holder ("{what} is in use by process N ...").
    ``wait=True``: wait for it (``on_wait`` is told once who holds it), up to ``timeout`` seconds.
    """
    from filelock import FileLock, Timeout

    path = Path(lock_path)
    info = path.with_name(path.name + ".owner")
    lock = FileLock(str(path), is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _describe_owner(info)
        if not wait:
            raise UserInputError(
                f"{what} is in use by {holder} (another llm-tui); wait for it to finish, or choose another"
            ) from None
        if on_wait:
            on_wait(f"{what} is in use by {holder}; waiting for it")
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout)
        except Timeout:
            raise UserInputError(f"{what} stayed in use by {holder} for {timeout:.0f} s; try again later") from None
    except OSError as exc:
        raise fs_error(exc, path.parent, what) from None
    try:
        with contextlib.suppress(OSError):
            info.write_text(_owner_line() + "\n")
        yield
    finally:
        with contextlib.suppress(OSError):
            info.unlink()
        lock.release()


def append_lines(path: str | os.PathLike[str], lines: list[str], what: str) -> None:
    """Append whole lines to a journal and fsync them: a crash tears at most the last line, which
    ``read_journal_bytes`` repairs."""
    blob = "".join(line + "\n" for line in lines).encode("utf-8")
    try:
        with Path(path).open("ab") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise fs_error(exc, path, what) from None


def read_journal_bytes(path: Path, repair: bool, consequence: str) -> tuple[bytes, list[str]]:
    """A JSON-lines journal's bytes with a torn last line (an interrupted write) cut off, kept in ``.torn`` and
    said in a notice ending with ``consequence``; ``repair`` also fixes the file. A last record that only lacks
    its newline is kept."""
    import json

    notices: list[str] = []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        torn = data[cut:]
        try:
            json.loads(torn)
            fixed = data + b"\n"
        except ValueError:
            fixed = data[:cut]
            if repair:
                with path.with_name(path.name + ".torn").open("ab") as f:
                    f.write(torn + b"\n")
            notices.append(
                f"{path.name}: repaired a torn last line ({len(torn)} bytes, an interrupted write); {consequence}"
            )
        if repair:
            with path.open("r+b") as f:
                f.truncate(cut)
                f.seek(cut)
                f.write(fixed[cut:])
                f.flush()
                os.fsync(f.fileno())
        data = fixed
    return data, notices
