"""Uploads from the browser: streamed straight into the save dir with a size limit, named safely, type-checked by
suffix and by their first bytes. Pickles (.pt, .pth, .pkl, .ckpt) are refused: PyTorch weights are converted on
the train side with `skyseg export`, never loaded from a browser.

The multipart body is parsed here (python-multipart's streaming parser) rather than by Starlette's form parser,
which spools large parts to the system temp folder: the server writes nowhere but the save dir.
"""
from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, AsyncIterator

log = logging.getLogger(__name__)

IMAGE_FAMILIES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
                  ".fits": "FITS", ".fit": "FITS", ".fts": "FITS", ".fits.gz": "gzip", ".fit.gz": "gzip",
                  ".fts.gz": "gzip"}
VIDEO_FAMILIES = {".mp4": "ISO media", ".m4v": "ISO media", ".mov": "ISO media", ".mkv": "Matroska",
                  ".webm": "Matroska", ".avi": "AVI"}
MODEL_FAMILIES = {".onnx": "ONNX"}
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".tar", ".joblib")
CONVERT_HINT = ("PyTorch weights are never loaded from the browser: convert them on the training machine with "
                "`skyseg export W.pt -o M.onnx` and upload the .onnx")


class UploadError(Exception):
    """A refused upload: an HTTP status and one sentence for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Received:
    path: Path  # where the body was written (inside the save dir)
    filename: str  # as the browser named it (for messages only)
    size: int


def safe_name(filename: str, default: str = "upload") -> str:
    """A file name that cannot leave its folder: the last path part, [A-Za-z0-9._-] only, no leading dot."""
    base = re.split(r"[\\/]", filename or "")[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._")[:80]
    return cleaned or default


def suffix_of(name: str) -> str:
    """The lower-case suffix, keeping `.fits.gz`-style double suffixes whole."""
    lower = name.lower()
    for double in (".fits.gz", ".fit.gz", ".fts.gz"):
        if lower.endswith(double):
            return double
    return Path(lower).suffix


def classify(filename: str, families: dict[str, str]) -> str:
    """The suffix if `families` accepts it; else UploadError(415) with the accepted list (or the pickle hint)."""
    suffix = suffix_of(filename)
    if suffix in PICKLE_SUFFIXES:
        raise UploadError(415, f"{filename}: {CONVERT_HINT}")
    if suffix not in families:
        accepted = ", ".join(sorted(families))
        raise UploadError(415, f"{filename}: files of type {suffix or '(no suffix)'} are not accepted here; "
                          f"upload one of {accepted}")
    return suffix


def _looks_like(family: str, head: bytes) -> bool:
    checks = {
        "PNG": head.startswith(b"\x89PNG\r\n\x1a\n"),
        "JPEG": head.startswith(b"\xff\xd8\xff"),
        "TIFF": head[:4] in (b"II*\x00", b"MM\x00*"),
        "BMP": head.startswith(b"BM"),
        "FITS": head.startswith(b"SIMPLE  ="),
        "gzip": head.startswith(b"\x1f\x8b"),
        "ISO media": head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"),
        "Matroska": head.startswith(b"\x1a\x45\xdf\xa3"),
        "AVI": head.startswith(b"RIFF") and head[8:12] == b"AVI ",
        # ONNX is a protobuf ModelProto: it starts with field 1 (ir_version, varint) or another small field tag
        "ONNX": len(head) > 2 and head[0] in (0x08, 0x12, 0x1a, 0x22, 0x2a, 0x32, 0x3a, 0x42),
    }
    return checks.get(family, False)


def check_content(path: Path, filename: str, suffix: str, families: dict[str, str]) -> None:
    """UploadError(415) when the file's first bytes do not match its suffix (a renamed or fake file)."""
    with open(path, "rb") as f:
        head = f.read(16)
    family = families[suffix]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80\x02") or head.startswith(b"\x80\x04"):
        raise UploadError(415, f"{filename}: this is a zip or pickle file, not {family}; {CONVERT_HINT}")
    if not _looks_like(family, head):
        raise UploadError(415, f"{filename} does not look like a {family} file (its first bytes are "
                          f"{head[:8].hex(' ')}); the file is corrupt or mis-named")


def _boundary(content_type: str) -> bytes:
    from python_multipart.multipart import parse_options_header

    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadError(400, "send the file as multipart/form-data in a field named 'file'")
    return boundary


async def receive_file(headers: Any, body: AsyncIterator[bytes], folder: Path, max_bytes: int,
                       field: str = "file") -> Received:
    """Stream the multipart field `field` into a hidden file in `folder`; UploadError for a missing field or a
    body over `max_bytes` (the partial file is removed)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    boundary = _boundary(headers.get("content-type", ""))
    declared = headers.get("content-length")
    limit_mb = max_bytes / (1024 * 1024)
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise UploadError(413, f"the upload is {int(declared) / 1048576:.1f} MB; the limit is {limit_mb:g} MB")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f".incoming-{uuid.uuid4().hex}.part"
    state: dict[str, Any] = {"field": b"", "value": b"", "headers": {}, "out": None, "name": None, "size": 0}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"] = state["value"] = b""

    def on_headers_finished() -> None:
        _, params = parse_options_header(state["headers"].get(b"content-disposition", b""))
        if params.get(b"name") == field.encode() and b"filename" in params and state["name"] is None:
            state["name"] = params[b"filename"].decode("utf-8", "replace")
            state["out"] = open(target, "wb")  # closed in on_part_end / finally
        state["headers"] = {}

    def on_part_data(data: bytes, start: int, end: int) -> None:
        out: IO[bytes] | None = state["out"]
        if out is None:
            return
        state["size"] += end - start
        if state["size"] > max_bytes:
            raise UploadError(413, f"the upload is larger than the limit of {limit_mb:g} MB")
        out.write(data[start:end])

    def on_part_end() -> None:
        if state["out"] is not None:
            state["out"].close()
            state["out"] = False  # the field is complete; later parts are ignored

    parser = MultipartParser(boundary, {"on_header_field": on_header_field, "on_header_value": on_header_value,
                                        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
                                        "on_part_data": on_part_data, "on_part_end": on_part_end})
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
        if state["name"] is None:
            raise UploadError(400, f"the form has no file in a field named '{field}'")
        if state["out"] is not False:
            raise UploadError(400, "the upload ended before the file was complete")
        if state["size"] == 0:
            raise UploadError(400, f"{state['name'] or 'the file'} is empty")
    except UploadError:
        _discard(state, target)
        raise
    except Exception as err:  # python-multipart's parse errors: a malformed body is the client's fault
        _discard(state, target)
        if type(err).__name__.endswith(("ParseError", "FormParserError")):
            raise UploadError(400, f"the multipart body could not be parsed ({err})") from None
        raise
    return Received(target, state["name"] or "upload", state["size"])


def _discard(state: dict[str, Any], target: Path) -> None:
    if state["out"]:
        state["out"].close()
    target.unlink(missing_ok=True)
