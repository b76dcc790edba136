"""The video of a killed run, kept up to the kill.

`VideoFileSink` writes MP4/MOV as fragmented MP4 (`mp4mux fragment-duration`: a `moof`+`mdat` pair every
`FRAGMENT_MS`), so the hidden `.NAME.part` file a SIGKILL or power cut leaves behind is a playable video up to its
last complete fragment. Matroska/WebM are written as a stream and play up to the kill as they are. On the next
start, `recover_killed_videos` turns each leftover into a visible file (the next free `NAME.N.suffix`, never
replacing a finished video), cut after its last complete MP4 box; a leftover with nothing playable in it is
removed, and either outcome is logged in one sentence.
"""
from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

log = logging.getLogger(__name__)

FRAGMENT_MS = 2000  # a killed run loses at most this much video
_ISO_SUFFIXES = (".mp4", ".m4v", ".mov")
_STREAM_SUFFIXES = (".mkv", ".webm")


def free_name(path: Path) -> Path:
    """`path`, or `stem.N.suffix` with the first free N: a rerun into the same --save-dir never replaces a video."""
    n = 1
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
        n += 1
    return candidate


def part_path(path: Path) -> Path:
    """The hidden file a video is written to until it is finalised."""
    return path.with_name(f".{path.name}.part")


def playable_end(path: Path) -> int:
    """Bytes of a (possibly cut-off) fragmented MP4 that hold complete top-level boxes up to the last complete
    fragment (`moof` followed by its `mdat`), after the `ftyp`/`moov` header; 0 when not one fragment is whole."""
    size = path.stat().st_size
    end = offset = 0
    seen_moov = pending_moof = False
    with path.open("rb") as fh:
        while offset + 8 <= size:
            fh.seek(offset)
            box_size, kind = struct.unpack(">I4s", fh.read(8))
            if box_size == 1:  # 64-bit size follows
                if offset + 16 > size:
                    break
                box_size = struct.unpack(">Q", fh.read(8))[0]
            if box_size < 8 or offset + box_size > size:
                break  # a box cut off by the kill (or size 0 = "to the end", which a live writer never means)
            offset += box_size
            if kind == b"moov":
                seen_moov = True
            elif kind == b"moof":
                pending_moof = True
            elif kind == b"mdat" and pending_moof and seen_moov:
                pending_moof = False
                end = offset
            elif kind == b"mfra" and end:
                end = offset  # the random-access index of a finished file
    return end


def recover_killed_video(part: Path, target: Path) -> Path | None:
    """One leftover → the next free name after `target` (cut to its last whole fragment), or removed."""
    suffix = target.suffix.lower()
    try:
        if suffix in _ISO_SUFFIXES:
            end = playable_end(part)
            if end == 0:
                part.unlink()
                log.warning("the video of a killed run (%s) held no complete fragment; removed it", part.name)
                return None
            if end < part.stat().st_size:
                os.truncate(part, end)
        elif suffix not in _STREAM_SUFFIXES or part.stat().st_size == 0:
            part.unlink()
            log.warning("the video of a killed run (%s) cannot be recovered (%s has its index at the end); "
                        "removed it", part.name, suffix)
            return None
        dest = free_name(target)
        os.replace(part, dest)
    except OSError as err:
        log.warning("could not recover the video of a killed run %s: %s", part, err.strerror or err)
        return None
    log.info("recovered the video of a killed run into %s", dest)
    return dest


def recover_killed_videos(folder: Path) -> list[Path]:
    """Recover every `.NAME.part` video leftover in `folder` (see the module docstring); returns what was kept."""
    kept = []
    if not folder.is_dir():
        return kept
    for part in sorted(folder.glob(".*.part")):
        target = folder / part.name[1 : -len(".part")]
        if target.suffix.lower() in _ISO_SUFFIXES + _STREAM_SUFFIXES + (".avi",):
            dest = recover_killed_video(part, target)
            if dest is not None:
                kept.append(dest)
    return kept
