"""allsky_skyseg.py: skyseg's sky mask and cloud cover as a module of AllskyTeam/allsky's image flow.

Copy this file into allsky's module folder (~/allsky/config/myFiles/modules/, or scripts/modules/ on older
releases) after `pip install skyseg` in the Python environment allsky runs its modules with (see README.md here).
For every night frame it segments the sky (the bundled model, or the one set under "model"), measures cloud cover
inside it, and hands the numbers to the overlay: the variables AS_SKYSEG_SKY, AS_SKYSEG_CLOUD and AS_SKYSEG_CLEAR
(percent) in the environment and the extra-data file skyseg.json. It can also write the sky and cloud masks
(255 = sky / cloud) next to each other in a folder of your choice.
"""
import os
import time

import allsky_shared as s

metaData = {
    "name": "skyseg sky and cloud cover",
    "description": "Segments the sky and measures cloud cover inside it (skyseg)",
    "module": "allsky_skyseg",
    "version": "v1.0.0",
    "events": ["night"],
    "experimental": "true",
    "arguments": {
        "model": "",
        "clouds": "true",
        "maskfolder": "",
        "threads": 1,
    },
    "argumentdetails": {
        "model": {
            "required": "false",
            "description": "Model file",
            "help": "A skyseg .onnx (or TensorRT .engine) file; empty = the model that ships with skyseg",
        },
        "clouds": {
            "required": "false",
            "description": "Measure cloud cover",
            "help": "Cloud cover inside the sky mask (AS_SKYSEG_CLOUD, AS_SKYSEG_CLEAR)",
            "type": {"fieldtype": "checkbox"},
        },
        "maskfolder": {
            "required": "false",
            "description": "Mask folder",
            "help": "If set, the sky mask and cloud map of each frame are written here as PNGs (255 = sky / cloud)",
        },
        "threads": {
            "required": "true",
            "description": "CPU threads",
            "help": "Threads ONNX Runtime may use for the model",
            "type": {"fieldtype": "spinner", "min": 1, "max": 8, "step": 1},
        },
    },
}

_STATE = {}  # the open segmenter, kept between frames (allsky imports a module once and calls it per frame)
EXTRA_FILE = "skyseg.json"


def _flag(value):
    """allsky hands checkbox values as booleans or as the strings 'true' / 'false'."""
    return value is True or str(value).strip().lower() in ("true", "1", "yes", "on")


def _segmenter(model, threads):
    key = (model, threads)
    if _STATE.get("key") != key:
        from skyseg.runtime.backends.base import open_backend
        from skyseg.runtime.bundled_model import bundled_model_path
        from skyseg.runtime.process.segmenter import Segmenter

        if "backend" in _STATE:
            _STATE.pop("backend").__exit__(None, None, None)
        backend = open_backend(model or str(bundled_model_path()), backend="auto", threads=threads)
        backend.__enter__()
        _STATE.update(key=key, backend=backend, segmenter=Segmenter(backend))
    return _STATE["segmenter"]


def _write_masks(folder, sky, cloud):
    from skyseg.runtime.atomic_file import write_image_atomic

    stem = os.path.splitext(os.path.basename(s.getEnvironmentVariable("CURRENT_IMAGE") or "frame"))[0]
    os.makedirs(folder, exist_ok=True)
    write_image_atomic(os.path.join(folder, stem + "_sky.png"), sky.astype("uint8") * 255, rgb=False)
    if cloud is not None:
        write_image_atomic(os.path.join(folder, stem + "_clouds.png"), cloud.astype("uint8") * 255, rgb=False)


def skyseg(params, event):
    import cv2

    image = s.image
    if image is None or getattr(image, "ndim", 0) not in (2, 3):
        s.log(0, "ERROR: skyseg: no image to work on (allsky_shared.image is empty)")
        return "skyseg: no image"
    rgb = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # allsky holds frames as BGR
    started = time.perf_counter()
    try:
        threads = max(1, int(float(params.get("threads", 1))))
        result = _segmenter(str(params.get("model", "") or ""), threads).segment(rgb)
    except Exception as err:  # a module must not stop allsky's flow; the reason goes to its log
        s.log(0, "ERROR: skyseg: the sky could not be segmented: {0}".format(err))
        return "skyseg failed: {0}".format(err)
    sky = result.sky_mask
    values = {"AS_SKYSEG_SKY": round(100.0 * result.sky_fraction, 1)}
    cloud = None
    if _flag(params.get("clouds", "true")):
        from skyseg.runtime.clouds.detect import detect_clouds

        clouds = detect_clouds(rgb if rgb.dtype == "uint8" else cv2.convertScaleAbs(rgb), sky)
        cloud = clouds.cloud
        if clouds.cloud_fraction == clouds.cloud_fraction:  # NaN when the frame shows no sky
            values["AS_SKYSEG_CLOUD"] = round(100.0 * clouds.cloud_fraction, 1)
            values["AS_SKYSEG_CLEAR"] = round(100.0 * clouds.clear_fraction, 1)
    values["AS_SKYSEG_MS"] = round((time.perf_counter() - started) * 1e3, 1)
    for name, value in values.items():
        os.environ[name] = str(value)
    s.saveExtraData(EXTRA_FILE, values)
    folder = str(params.get("maskfolder", "") or "")
    if folder:
        _write_masks(folder, sky, cloud)
    text = "sky {0} %".format(values["AS_SKYSEG_SKY"])
    if "AS_SKYSEG_CLOUD" in values:
        text += ", cloud {0} % of the sky".format(values["AS_SKYSEG_CLOUD"])
    s.log(4, "INFO: skyseg: {0} ({1} ms)".format(text, values["AS_SKYSEG_MS"]))
    return text
