"""`skyseg archive` on a real local Ray (2 CPUs): masks equal to `skyseg run --masks` pixel for pixel, resume
skips done frames, a corrupt frame is a row with its error, one table per night."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.runtime.bundled_model import bundled_model_path
from skyseg.runtime.pipeline import RunConfig, run

MODEL = bundled_model_path()



def test_archive_matches_run_and_resumes(tmp_path: Path, local_ray, realsky_dir: Path) -> None:
    from astropy.io import fits

    from skyseg.runtime.process.preprocess import to_rgb8
    from skyseg.scale.archive import run_archive

    night = tmp_path / "night"
    night.mkdir()
    base = to_rgb8(np.squeeze(fits.getdata(realsky_dir / "iceact_starry.fits")))
    for i in range(4):
        cv2.imwrite(str(night / f"image-{i:04d}.png"), cv2.resize(np.roll(base, 29 * i, axis=1), (160, 120)))
    (night / "image-0009.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    run(RunConfig(source=str(night), model=str(MODEL), threads=1, masks=str(tmp_path / "run"), headless=True,
                  prior="off"))  # the archive writes the model's own masks: compare like with like

    counts = run_archive(night, tmp_path / "out", str(MODEL), actors=1)
    assert counts == {"frames": 4, "skipped": 0, "errors": 1}
    assert (tmp_path / "out" / "manifest.parquet").is_file()
    ours = sorted((tmp_path / "out" / "masks").glob("*.png"))
    theirs = sorted((tmp_path / "run").glob("*.png"))
    assert [p.name for p in ours] == [p.name for p in theirs] and len(ours) == 4
    for a, b in zip(ours, theirs):
        assert np.array_equal(cv2.imread(str(a), 0), cv2.imread(str(b), 0))
    tables = list((tmp_path / "out" / "nights").glob("*.csv"))
    assert len(tables) == 1
    rows = list(csv.DictReader(open(tables[0])))
    assert len(rows) == 5
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 1 and bad[0]["path"].endswith("image-0009.png") and not bad[0]["mask"]

    again = run_archive(tmp_path / "out" / "manifest.parquet", tmp_path / "out", str(MODEL), actors=1)
    assert again["skipped"] == 4 and again["frames"] == 0 and again["errors"] == 1  # only the corrupt one retried


def test_archive_publishes_night_summaries_not_live_state(tmp_path: Path, local_ray, broker) -> None:
    """`--output mqtt://...`: one retained summary per night under BASE/archive/<night>/ (the whole night's table, so
    a resume keeps counting earlier frames) and BASE/archive/state; the live BASE/* topics stay untouched."""
    import json
    import os
    from datetime import datetime, timezone

    from broker import Subscriber

    from skyseg.scale.archive import run_archive

    night = tmp_path / "night"
    night.mkdir()
    frame = np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (72, 1, 3))
    when = {"a.png": "2025-12-02T02:00", "b.png": "2025-12-02T03:00", "c.png": "2025-12-02T22:00",
            "d.png": "2025-12-02T23:00"}  # a, b: the night of Dec 1 (UTC, mtime − 12 h); c, d (corrupt): Dec 2
    for name, stamp in when.items():
        if name == "d.png":
            (night / name).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        else:
            cv2.imwrite(str(night / name), np.roll(frame, 17 * ord(name[0]), axis=1))
        t = datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc).timestamp()
        os.utime(night / name, (t, t))
    uri = f"mqtt://127.0.0.1:{broker.port}/allsky"
    sub = Subscriber(broker.port, "#")
    try:
        assert run_archive(night, tmp_path / "out", str(MODEL), actors=1, batch_size=2, outputs=[uri]) == \
            {"frames": 3, "skipped": 0, "errors": 1}
        assert sub.wait_for(lambda m: m.get("allsky/archive/status") == "offline")
        first = sub.latest()
        states = [json.loads(p)["status"] for t, p, _ in sub.messages if t == "allsky/archive/state"]
        assert run_archive(tmp_path / "out" / "manifest.parquet", tmp_path / "out", str(MODEL), actors=1,
                           outputs=[uri]) == {"frames": 0, "skipped": 3, "errors": 1}  # only the corrupt retried
        assert sub.wait_for(lambda m: len([t for t, p, _ in sub.messages if t == "allsky/archive/status"]) == 4)
    finally:
        sub.close()
    assert states == ["running", "done"]
    assert not [t for t in first if not t.startswith("allsky/archive/")]  # no live topic, no discovery
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader(open(tmp_path / "out/nights/2025-12-01.csv"))}
    mean = round((float(rows["a.png"]["sky_fraction"]) + float(rows["b.png"]["sky_fraction"])) / 2, 6)
    assert first["allsky/archive/2025-12-01/frames"] == "2" and first["allsky/archive/2025-12-01/errors"] == "0"
    assert first["allsky/archive/2025-12-01/sky_fraction_mean"] == str(mean)
    assert (first["allsky/archive/2025-12-02/frames"], first["allsky/archive/2025-12-02/errors"]) == ("1", "1")
    summary = json.loads(first["allsky/archive/2025-12-02/summary"])
    assert summary["table"].endswith("nights/2025-12-02.csv") and summary["frames"] == 1
    done = json.loads(first["allsky/archive/state"])
    assert done["status"] == "done" and done["nights"] == ["2025-12-01", "2025-12-02"]
    assert (done["frames"], done["errors"], done["skipped"]) == (3, 1, 0)

    later = Subscriber(broker.port, "allsky/#")  # the retained values after the resume: the night still counts c.png
    try:
        assert later.wait_for(lambda m: json.loads(m.get("allsky/archive/state", "{}")).get("skipped") == 3
                              and {f"allsky/archive/2025-12-0{d}/{k}" for d in (1, 2) for k in ("frames", "errors")}
                              <= m.keys())
        got = later.latest()
    finally:
        later.close()
    assert json.loads(got["allsky/archive/state"])["nights"] == ["2025-12-02"]
    assert (got["allsky/archive/2025-12-02/frames"], got["allsky/archive/2025-12-02/errors"]) == ("1", "1")
    assert got["allsky/archive/2025-12-01/frames"] == "2"  # untouched by the resume, still retained


@pytest.mark.parametrize(("uri", "needle"), [
    ("mqtt://host", "with a host and a base topic"),
    ("mqtt://host/sky?discovery=homeassistant", "drop ?discovery"),
    ("file://out.mp4", "publishes only to mqtt://"),
])
def test_archive_output_refused_in_one_sentence(tmp_path: Path, uri: str, needle: str) -> None:
    from skyseg.runtime.errors import InputError
    from skyseg.scale.archive_mqtt import archive_uri

    with pytest.raises(InputError) as err:
        archive_uri(uri)
    assert str(err.value).startswith(f"--output {uri}: ") and needle in str(err.value)
    assert archive_uri("mqtt://b.local:1884/allsky/cam1/?qos=0") == "mqtt://b.local:1884/allsky/cam1/archive?qos=0"


def test_manifest_lists_every_frame_kind_skyseg_run_reads(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="skyseg archive needs pyarrow: pip install -e '.[scale]'")
    from skyseg.runtime.sources.image_reader import read_frame_file
    from skyseg.scale.archive import build_manifest

    frame = np.tile(np.linspace(10, 200, 32, dtype=np.uint8)[None, :, None], (24, 1, 3))  # a FITS needs signal
    night = tmp_path / "night" / "a"
    night.mkdir(parents=True)
    cv2.imwrite(str(night / "f1.bmp"), frame)
    cv2.imwrite(str(tmp_path / "night" / "f2.png"), frame)
    from astropy.io import fits

    fits.PrimaryHDU(frame[..., 0]).writeto(tmp_path / "f3.fits")
    import gzip

    (night / "f3.fit.gz").write_bytes(gzip.compress((tmp_path / "f3.fits").read_bytes()))
    (night / "notes.txt").write_text("not a frame")
    paths = build_manifest(tmp_path / "night").column("path").to_pylist()
    assert [Path(p).name for p in paths] == ["f1.bmp", "f3.fit.gz", "f2.png"]
    for path in paths:  # each one is a frame for the runtime's readers, as for `skyseg run`
        assert read_frame_file(path, 0, "t").pixels.shape[:2] == (24, 32)
