"""`import skyseg` is the public face: light to import, and its few names run a real frame end to end."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REALSKY_FRAME = Path(__file__).resolve().parents[1] / "datasets" / "realsky" / "images" / "val" / "iceact_starry.fits"


def test_import_is_light_and_names_load_on_use() -> None:
    code = ("import sys, skyseg; "
            "heavy = [m for m in ('cv2', 'onnxruntime', 'torch', 'ultralytics') if m in sys.modules]; "
            "assert not heavy, heavy; assert 'Pipeline' in dir(skyseg); skyseg.open_source; "
            "assert 'skyseg.runtime.sources.uri' in sys.modules and 'torch' not in sys.modules; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_unknown_name_is_an_attribute_error() -> None:
    import skyseg

    with pytest.raises(AttributeError, match="no attribute 'Segmentor'"):
        skyseg.Segmentor  # noqa: B018 - the attribute access is what is tested


def test_the_readme_lines_segment_a_real_frame(tmp_path: Path) -> None:
    if not REALSKY_FRAME.is_file():
        pytest.fail(f"the real frame {REALSKY_FRAME} is missing from the checkout")
    import skyseg
    from skyseg.runtime.bundled_model import bundled_model_path

    with skyseg.open_backend(bundled_model_path(), "ort", threads=1) as backend, \
            skyseg.open_source(str(REALSKY_FRAME)) as source:
        seg = skyseg.Segmenter(backend, conf=0.25)
        records = [seg.record(item) for item in source]
    assert len(records) == 1 and isinstance(records[0], skyseg.FrameRecord) and records[0].ok
    assert isinstance(records[0].result, skyseg.SegResult) and 0.2 < records[0].result.sky_fraction < 0.95
    summary = skyseg.run(skyseg.RunConfig(source=str(REALSKY_FRAME), model=str(bundled_model_path()),
                                          backend="ort", threads=1, masks=str(tmp_path / "masks"), headless=True))
    assert summary.frames == 1 and (tmp_path / "masks" / "iceact_starry_mask.png").is_file()
