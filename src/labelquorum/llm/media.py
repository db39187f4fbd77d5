"""Images from item fields as chat content parts, confined to the project's media root.

Item fields are untrusted. An ``http(s)://`` URL (or a ``data:image/...`` URL) is passed
through to the endpoint; anything else is a path relative to the media root
(``[project] media_root``, relative to the project directory). Absolute paths, paths with
``..``, and paths that resolve outside the root (through a symbolic link) are refused, so
no file outside the project can be sent to an endpoint. Local files are base64-encoded;
the call log keeps their size and hash instead (:func:`loggable`).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..errors import MediaError

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp"}
MAX_BYTES = 20 * 1024 * 1024


def resolve_media(value: str, media_root: Path) -> Path:
    """The file an item's image field names, or :class:`MediaError` when it is refused."""
    text = str(value).strip()
    if not text:
        raise MediaError("the image field is empty; give a path under the media root or an "
                         "http(s) URL")
    posix, windows = PurePosixPath(text), PureWindowsPath(text)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        raise MediaError(f"image path {text!r} is absolute; item images must be paths "
                         f"relative to the media root ({media_root}) or http(s) URLs")
    if ".." in posix.parts or ".." in windows.parts:
        raise MediaError(f"image path {text!r} contains '..'; item images must stay inside "
                         f"the media root ({media_root})")
    root = media_root.resolve()
    path = (root / posix).resolve()
    if not path.is_relative_to(root):
        raise MediaError(f"image path {text!r} resolves to {path}, outside the media root "
                         f"({root}), through a symbolic link; copy the file into the media "
                         "root instead")
    if not path.is_file():
        raise MediaError(f"image {text!r} does not exist under the media root ({root}); set "
                         "[project] media_root or fix the item's image field")
    return path


def image_part(value: str, media_root: Path) -> dict[str, Any]:
    """An ``image_url`` content part for an item's image field."""
    text = str(value).strip()
    if text.lower().startswith(("http://", "https://", "data:image/")):
        return {"type": "image_url", "image_url": {"url": text}}
    path = resolve_media(text, media_root)
    mime = IMAGE_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    if not mime or not mime.startswith("image/"):
        raise MediaError(f"{text!r} is not an image file (expected one of "
                         f"{', '.join(sorted(IMAGE_TYPES))})")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise MediaError(f"image {text!r} is {size / 1e6:.1f} MB; the limit is "
                         f"{MAX_BYTES / 1e6:.0f} MB")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}


def loggable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages for the call log: inline images replaced by their size and hash."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                url = part.get("image_url", {}).get("url", "") if isinstance(part, dict) else ""
                if url.startswith("data:"):
                    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
                    part = {"type": "image_url",
                            "image_url": {"url": f"{url[:url.find(',') + 1]}<{len(url)} chars, "
                                                 f"sha256 {digest}>"}}
                parts.append(part)
            m = {**m, "content": parts}
        out.append(m)
    return out
