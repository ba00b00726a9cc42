"""A FUSE file system that loses what was not fsynced, to test durability across a power cut.

After the idea of LazyFS (a FUSE layer that keeps writes in its own cache until fsync),
written here in Python over libfuse 3 (Debian's ``fuse3``, PyPI's ``mfusepy``) so that the
project can install it itself. Terms:

- *backing folder*: the "disk". Only what reaches it survives the power cut.
- *pending*: bytes written (or a size set) since the file's last fsync. Reads see them, as
  they would see the page cache; the backing folder does not hold them.
- *fsync* (and fdatasync) of a file moves its pending operations to the backing folder.
- *power cut*: unmount without fsync. ``--cut drop`` loses every pending operation (the
  worst case a disk may give); ``--cut some:SEED`` keeps a random subset of them, in any
  order, as a disk with a volatile write cache may (torn transactions, reordered pages).

Simplification: creating, renaming and removing files takes effect at once (as if every
directory were fsynced), so only file contents are at risk; SQLite's WAL, which is
created once and then rewritten in place, is tested on its contents.

Usage (foreground; unmount with ``fusermount3 -u MOUNT`` to cut the power):

    python benchmarks/lazyfs.py BACKING MOUNT [--cut drop|some:SEED]
"""

from __future__ import annotations

import argparse
import errno
import os
import random
import sys
from typing import Any

import mfusepy as fuse


class LazyFS(fuse.Operations):  # type: ignore[misc]
    """Passthrough to the backing folder; file contents wait in memory until fsync."""

    use_ns = True

    def __init__(self, root: str) -> None:
        self.root = root
        self.content: dict[str, bytearray] = {}  # what a reader sees, for files with pending ops
        self.pending: dict[
            str, list[tuple[str, int, bytes]]
        ] = {}  # ("write", off, data) | ("size", n, b"")

    def _real(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _view(self, path: str) -> bytearray:
        """The file as readers see it (loaded from the backing folder on first change)."""
        if path not in self.content:
            with open(self._real(path), "rb") as handle:
                self.content[path] = bytearray(handle.read())
            self.pending.setdefault(path, [])
        return self.content[path]

    # --- metadata: straight to the backing folder --------------------------------------

    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        try:
            st = os.lstat(self._real(path))
        except FileNotFoundError:
            raise fuse.FuseOSError(errno.ENOENT) from None
        attrs = {
            key: getattr(st, key) for key in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size")
        }
        # use_ns: times in nanoseconds
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        if path in self.content:
            attrs["st_size"] = len(self.content[path])
        return attrs

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._real(path), amode):
            raise fuse.FuseOSError(errno.EACCES)
        return 0

    def readdir(self, path: str, fh: Any) -> list[str]:
        return [".", "..", *os.listdir(self._real(path))]

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._real(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._real(path))
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._real(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._real(path), uid, gid)
        return 0

    def utimens(self, path: str, times: Any = None) -> int:
        os.utime(self._real(path), ns=times)
        return 0

    def statfs(self, path: str) -> dict[str, Any]:
        st = os.statvfs(self._real(path))
        return {key: getattr(st, key) for key in dir(st) if key.startswith("f_")}

    def unlink(self, path: str) -> int:
        os.unlink(self._real(path))
        self.content.pop(path, None)
        self.pending.pop(path, None)
        return 0

    def rename(self, old: str, new: str) -> int:
        os.rename(self._real(old), self._real(new))
        for table in (self.content, self.pending):
            table.pop(new, None)
            if old in table:
                table[new] = table.pop(old)  # type: ignore[assignment]
        return 0

    # --- contents: held until fsync ----------------------------------------------------

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        os.close(os.open(self._real(path), os.O_CREAT | os.O_WRONLY, mode))
        return 0

    def open(self, path: str, flags: int) -> int:
        if not os.path.exists(self._real(path)):
            raise fuse.FuseOSError(errno.ENOENT)
        if flags & os.O_TRUNC:
            self.truncate(path, 0)
        return 0

    def read(self, path: str, size: int, offset: int, fh: Any) -> bytes:
        if path in self.content:
            return bytes(self.content[path][offset : offset + size])
        with open(self._real(path), "rb") as handle:
            handle.seek(offset)
            return handle.read(size)

    def write(self, path: str, data: bytes, offset: int, fh: Any) -> int:
        view = self._view(path)
        if len(view) < offset:
            view.extend(bytes(offset - len(view)))
        view[offset : offset + len(data)] = data
        self.pending[path].append(("write", offset, bytes(data)))
        return len(data)

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        view = self._view(path)
        if length < len(view):
            del view[length:]
        else:
            view.extend(bytes(length - len(view)))
        self.pending[path].append(("size", length, b""))
        return 0

    def fsync(self, path: str, datasync: int, fh: Any) -> int:
        self._persist(path, self.pending.get(path, []))
        self.pending.pop(path, None)
        self.content.pop(path, None)  # the backing file now is what readers see
        return 0

    def flush(self, path: str, fh: Any) -> int:
        return 0  # close() is no fsync

    def release(self, path: str, fh: Any) -> int:
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: Any) -> int:
        return 0  # directory changes took effect at once

    def _persist(self, path: str, ops: list[tuple[str, int, bytes]]) -> None:
        """Write ``ops`` to the backing file, in the order given."""
        if not ops or not os.path.exists(self._real(path)):
            return
        with open(self._real(path), "r+b") as handle:
            for kind, offset, data in ops:
                if kind == "size":
                    handle.truncate(offset)
                else:
                    handle.seek(offset)
                    handle.write(data)

    def power_cut(self, mode: str) -> dict[str, int]:
        """What reaches the disk when the power goes: nothing pending, or a random part."""
        ops = sum(len(v) for v in self.pending.values())
        kept = 0
        if mode.startswith("some:"):
            rng = random.Random(int(mode.split(":", 1)[1]))
            for path, pending in self.pending.items():
                chosen = [op for op in pending if rng.random() < 0.5]
                rng.shuffle(chosen)  # a volatile cache may write them in any order
                self._persist(path, chosen)
                kept += len(chosen)
        self.pending.clear()
        self.content.clear()
        return {"pending_ops": ops, "kept_ops": kept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backing")
    parser.add_argument("mount")
    parser.add_argument("--cut", default="drop", help="drop, or some:SEED")
    args = parser.parse_args()
    if args.cut != "drop" and not args.cut.startswith("some:"):
        parser.error("--cut is drop or some:SEED")
    fs = LazyFS(os.path.abspath(args.backing))
    # One thread: operations stay in the order the kernel sends them.
    fuse.FUSE(fs, args.mount, foreground=True, nothreads=True, fsname="lazyfs")
    print(fs.power_cut(args.cut), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
