"""A structural check of MP4/MOV files (ISO base media) before GStreamer opens them.

A recorder killed mid-night leaves an MP4 whose index (the `moov` box) was never written, or was cut off. Handed
such a file, GStreamer 1.22's decodebin (pulling from filesrc) stalls without an error in most runs. Reading the
top-level box headers (a few bytes each, no decoding) tells at once whether a complete `moov` is present, so the
runtime can refuse the file with a clear sentence and keep GStreamer's pull mode, which reads every frame.
"""
from __future__ import annotations

import struct
from pathlib import Path

_MAX_BOXES = 100_000  # a valid file has a handful of top-level boxes; stop walking pathological ones


def is_iso_media(path: str | Path) -> bool:
    """MP4/MOV/3GP files start with a box whose type is 'ftyp'."""
    try:
        with open(path, "rb") as f:
            return f.read(12)[4:8] == b"ftyp"
    except OSError:
        return False


def top_level_boxes(path: str | Path) -> list[tuple[str, int, int]]:
    """(type, offset, size) of each top-level box; a box running past the end of the file is listed with the size
    its header declares, so the caller can see it is incomplete. Stops at a header that cannot be read."""
    boxes: list[tuple[str, int, int]] = []
    file_size = Path(path).stat().st_size
    with open(path, "rb") as f:
        offset = 0
        while offset + 8 <= file_size and len(boxes) < _MAX_BOXES:
            f.seek(offset)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:  # 64-bit size follows the type
                large = f.read(8)
                if len(large) < 8:
                    break
                size = struct.unpack(">Q", large)[0]
            elif size == 0:  # the box runs to the end of the file
                size = file_size - offset
            boxes.append((kind.decode("latin-1"), offset, size))
            if size < 8:  # a corrupt header: nothing after it can be located
                break
            offset += size
    return boxes


def index_problem(path: str | Path) -> str | None:
    """Why an ISO media file cannot be played from its index, or None when a complete `moov` box is present."""
    file_size = Path(path).stat().st_size
    boxes = top_level_boxes(path)
    moov = [(offset, size) for name, offset, size in boxes if name == "moov"]
    if not moov:
        return (f"it has no index (moov box) in {file_size} bytes: the recording was cut off before it was "
                "finalised")
    offset, size = moov[0]
    if size < 8 or offset + size > file_size:
        return (f"its index (moov box) is cut off at byte {file_size} of the {offset + size} it declares: the file "
                "is truncated")
    return None
