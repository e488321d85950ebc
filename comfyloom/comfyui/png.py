"""A PNG's size from its header: the GPU worker needs no imaging library to stage what ComfyUI rendered."""

from __future__ import annotations

import struct

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which the PNG format puts first.

    Raises:
        ValueError: `data` is not a PNG.
    """
    if len(data) < 24 or not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError(f"not a PNG ({len(data)} bytes starting {data[:8]!r})")
    width, height = struct.unpack(">II", data[16:24])
    return width, height
