"""The output grammar: every `--output` is parsed once, into one of four kinds or one sentence."""
from __future__ import annotations

import pytest

from skyseg.runtime.errors import InputError
from skyseg.runtime.sinks.output_uri import parse_output


@pytest.mark.parametrize(("uri", "kind", "path"), [
    ("mqtt://127.0.0.1/sky", "mqtt", ""),
    ("mqtt://broker:1884/cams/roof?discovery=homeassistant", "mqtt", ""),
    ("display://0", "display", ""),
    ("file:///data/night.mp4", "video", "/data/night.mp4"),
    ("night.MKV", "video", "night.MKV"),
    ("out/annotated/", "images", "out/annotated/"),
    ("annotated", "images", "annotated"),
])
def test_each_kind(uri: str, kind: str, path: str) -> None:
    spec = parse_output(uri)
    assert (spec.kind, spec.uri, spec.path) == (kind, uri, path)


@pytest.mark.parametrize(("uri", "needle"), [
    ("out.txt", "expected display://N, a video file"),
    ("rtp://10.0.0.2:5000", "unknown scheme rtp://"),
    ("mqtt://", "mqtt://HOST[:PORT]/BASE_TOPIC"),
])
def test_bad_outputs_are_one_sentence(uri: str, needle: str) -> None:
    with pytest.raises(InputError, match=None) as err:
        parse_output(uri)
    assert needle in str(err.value) and "\n" not in str(err.value)
