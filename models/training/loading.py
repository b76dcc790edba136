"""`load_model`: a packaged config name, a YAML path or a local checkpoint → an Ultralytics YOLO (never a download)."""
from __future__ import annotations

import logging
import re
from pathlib import Path

from skyseg.runtime.errors import InputError

log = logging.getLogger(__name__)

CFG_DIR = Path(__file__).resolve().parents[1] / "cfg"  # models/cfg
# yolo11-sky-seg.yaml, or with a scale letter: yolo11n-sky-seg.yaml / yolo11s-sky-seg.yaml
_PACKAGED = re.compile(r"^(?P<stem>yolo11)(?P<scale>[a-z]?)(?P<rest>-sky-seg)\.ya?ml$")


def packaged_configs() -> list[str]:
    """Names accepted by `load_model` without a path (one per scale of each packaged config)."""
    import yaml

    names = []
    for path in sorted(CFG_DIR.glob("*.yaml")):
        m = _PACKAGED.match(path.name)
        scales = (yaml.safe_load(path.read_text()) or {}).get("scales", {}) if m else {}
        names += [f"{m['stem']}{s}{m['rest']}.yaml" for s in scales] if m else []
    return names


def resolve_config(name: str | Path) -> Path:
    """Path Ultralytics should be given for a YAML: an existing file, or a packaged config name with its scale.

    The returned path for 'yolo11n-sky-seg.yaml' does not exist on disk: Ultralytics maps it to
    cfg/yolo11-sky-seg.yaml and reads the scale letter from the name (its own convention).
    """
    path = Path(name)
    if path.is_file():
        return path
    m = _PACKAGED.match(path.name)
    if m and (CFG_DIR / f"{m['stem']}{m['rest']}.yaml").is_file():
        if m["scale"] and m["scale"] not in _scales(CFG_DIR / f"{m['stem']}{m['rest']}.yaml"):
            raise InputError(f"model config {path.name!r} asks for scale {m['scale']!r}, but the packaged config "
                             f"has only {sorted(_scales(CFG_DIR / (m['stem'] + m['rest'] + '.yaml')))}; "
                             f"choose one of {packaged_configs()}")
        return CFG_DIR / path.name
    raise InputError(f"model config {str(name)!r} is neither an existing file nor a packaged config; "
                     f"use a path or one of {packaged_configs()} (skyseg never downloads models)")


def _scales(path: Path) -> set[str]:
    import yaml

    return set((yaml.safe_load(path.read_text()) or {}).get("scales", {}))


def load_model(cfg_or_weights: str | Path):  # -> ultralytics.YOLO (imported lazily)
    """Build a model from a YAML (packaged name or path) or load a local `.pt`; registers skyseg modules first."""
    from skyseg.models.registry import register

    register()
    from skyseg.models.training.sky_yolo import SkyYOLO

    path = Path(cfg_or_weights)
    if path.suffix in (".yaml", ".yml"):
        model = SkyYOLO(str(resolve_config(path)), task="segment")
        names = model.model.yaml.get("names")
        if isinstance(names, dict) and len(names) == model.model.yaml.get("nc"):
            model.model.names = {int(k): str(v) for k, v in names.items()}
        return model
    if path.suffix == ".pt":
        if not path.is_file():
            raise InputError(f"checkpoint {str(path)!r} does not exist; give the path of a local .pt file "
                             f"(hub names such as 'yolo11n-seg.pt' are not downloaded)")
        return as_sky_model(SkyYOLO(str(path), task="segment"))
    raise InputError(f"cannot load {str(path)!r}: expected a .yaml model config or a .pt checkpoint")


def as_sky_model(yolo):  # (SkyYOLO) -> SkyYOLO
    """A checkpoint of an older skyseg pickles Ultralytics' own SegmentationModel; give its model skyseg's class
    (same modules and weights, a `fuse()` that reparameterizes) so it is predicted, validated and exported like a
    new one. Stock Ultralytics checkpoints are left as they are."""
    from ultralytics.nn.tasks import SegmentationModel

    from skyseg.models.segmentation_model import SkySegmentationModel

    net = yolo.model
    if type(net) is SegmentationModel and any(callable(getattr(m, "reparameterize", None)) for m in net.modules()):
        net.__class__ = SkySegmentationModel
    return yolo
