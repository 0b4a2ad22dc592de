"""The file system the static route reads: a path that cannot name a file is "not found", not a crash.

Litestar's local file system lets two kinds of request path through as errors: one with a NUL
byte (`/static/app.css%00`), which `stat()` refuses with `ValueError`, and one the operating
system refuses to look up (a segment longer than a file name may be, a file used as a directory),
which Litestar turns into a 500. Neither can name one of our files, so both are answered 404 like
any other missing file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.file_system import BaseLocalFileSystem

if TYPE_CHECKING:
    from litestar.types import PathType
    from litestar.types.file_types import FileInfo

__all__ = ("StaticFileSystem",)


class StaticFileSystem(BaseLocalFileSystem):
    """The local file system, with unnameable paths reported as missing files."""

    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        """The file's details; `FileNotFoundError` for a path no file can have."""
        try:
            return await super().info(path, **kwargs)
        except PermissionError:
            raise
        except (ValueError, OSError) as exc:  # FileNotFoundError included: it is an OSError
            raise FileNotFoundError(path) from exc
