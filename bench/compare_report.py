"""`skyseg bench compare`'s table, summary lines and JSON: what auto picked and why, against Ultralytics' best.

JSON (`--json FILE`): {"conditions": str, "targets": {...}, "sizes": [{"size", "hw", "rows": [{"name", "family",
"backend", "precision", "ms", "iou_mean", "iou_min", "reachable", "counts", "note"}], "auto": {"name", "backend",
"model", "options", "source", "reason", "evidence"}, "auto_row", "best_ultralytics", "auto_vs_ultralytics",
"int8_vs_fp32": [{"backend", "int8", "fp32", "int8_ms", "fp32_ms", "ratio", "int8_iou_min"}]}]}.
"""
from __future__ import annotations

from typing import Any

from skyseg.bench.calib import SPEEDUP_TARGET as INT8_TARGET

ULTRALYTICS_TARGET = 1.3
IOU_FLOOR = 0.98  # sky IoU vs FP32: skyseg rows on every frame (min), Ultralytics rows on average


def best(rows: list[Any], family: str) -> Any | None:
    """The family's fastest row that counts and agrees with FP32 at IoU ≥ 0.98: skyseg's on every frame (min),
    Ultralytics' on average (its masks are cut at input-pixel edges, so single frames sit near 0.98 whatever the
    backend; judging them by min would drop every Ultralytics row and leave nothing to compare with)."""
    which = 1 if family == "skyseg" else 0
    fit = [r for r in rows if r.family == family and r.counts and r.ms is not None and r.iou[which] >= IOU_FLOOR]
    return min(fit, key=lambda r: r.ms) if fit else None


def auto_row(res: Any) -> Any | None:
    from skyseg.bench.compare import AUTO

    row = next((r for r in res.rows if r.label == AUTO), None)
    return row if row is not None and row.ms is not None else None


def int8_pairs(res: Any) -> list[tuple[Any, Any]]:
    """(INT8 row, float row of the same backend) for every INT8 form that ran: ORT INT8 vs ORT FP32, OpenVINO INT8
    (CPU form, OpenVINO form) vs OpenVINO f32, OpenVINO INT8 with bf16 islands vs OpenVINO bf16."""
    from skyseg.bench import compare as c

    by = {r.label: r for r in res.rows}
    ov_f32 = "skyseg FP32 · OpenVINO (f32)"
    pairs = [(c.INT8_CPU, c.FP32_ORT), (c.INT8_CPU_OV, ov_f32), (c.INT8_OV, ov_f32), (c.INT8_OV_BF16, c.BF16)]
    return [(by[a], by[b]) for a, b in pairs if a in by and b in by and by[a].ms is not None and by[b].ms is not None]


def _verdict(value: float, target: float) -> str:
    return f"target ≥ {target}×: {'met' if value >= target else 'NOT met'}"


def summary_lines(res: Any) -> list[str]:
    size = f"{res.prep.size} ({res.prep.hw[0]}×{res.prep.hw[1]})"
    picked, theirs = auto_row(res), best(res.rows, "ultralytics")
    lines = []
    if res.auto is not None:
        lines.append(f"- {size}: `skyseg run --backend auto` picks **{res.auto.name}** ({res.auto.model.name}; "
                     f"{res.auto.source}): {res.auto.reason}")
    if picked and theirs:
        ratio = theirs.ms / picked.ms
        lines.append(f"- {size}: auto's pick {picked.ms:.1f} ms (sky IoU min {picked.iou[1]:.3f}) vs Ultralytics best "
                     f"= {theirs.label} {theirs.ms:.1f} ms → **{ratio:.2f}×** ({_verdict(ratio, ULTRALYTICS_TARGET)})")
    elif picked:
        lines.append(f"- {size}: auto's pick {picked.ms:.1f} ms (no Ultralytics row at mean IoU ≥ {IOU_FLOOR})")
    fastest = best(res.rows, "skyseg")
    if fastest is not None and picked is not None and fastest.label != picked.label:
        lines.append(f"- {size}: fastest skyseg row at IoU ≥ {IOU_FLOOR} on these frames: {fastest.label} "
                     f"{fastest.ms:.1f} ms (auto decides on real frames and its own timing)")
    for int8, fp32 in int8_pairs(res):
        ratio = fp32.ms / int8.ms
        lines.append(f"- {size}: {int8.label} vs {fp32.label}: {fp32.ms:.1f} / {int8.ms:.1f} ms = **{ratio:.2f}×** "
                     f"({_verdict(ratio, INT8_TARGET)}; INT8 sky IoU {int8.iou[0]:.3f} mean, {int8.iou[1]:.3f} min)")
    return lines


def markdown(results: list[Any], conditions: str) -> str:
    notes: list[str] = []

    def cells(row: Any | None) -> list[str]:
        if row is None:
            return ["—", "—"]
        mark = ""
        if row.note:
            if row.note not in notes:
                notes.append(row.note)
            mark = f" [{notes.index(row.note) + 1}]"
        if row.ms is None:
            word = row.note.split(":")[0] if row.note.startswith(("refused", "failed")) else "n/a"
            return [f"{word}{mark}", "—"]
        return [f"{row.ms:.1f}{mark}", f"{row.iou[0]:.3f} / {row.iou[1]:.3f}"]

    head = ["variant"] + [c for r in results for c in (f"{r.prep.size} ({r.prep.hw[0]}×{r.prep.hw[1]}) ms/frame",
                                                       f"{r.prep.size} sky IoU vs FP32 ORT (mean / min)")]
    labels = list(dict.fromkeys(row.label for r in results for row in r.rows))
    lines = [conditions, "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for label in labels:
        row_cells = [c for r in results for c in cells(next((x for x in r.rows if x.label == label), None))]
        lines.append(f"| {label} | " + " | ".join(row_cells) + " |")
    lines += [""] + [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    lines += [""] + [line for r in results for line in summary_lines(r)]
    return "\n".join(lines) + "\n"


def conditions_line(threads: int, cpus: list[int] | None, frames: int, rounds: int, frame_wh: tuple[int, int],
                    results: list[Any]) -> str:
    from skyseg.bench.sysinfo import cpu_model, library_versions

    versions = library_versions(("onnxruntime", "openvino", "torch", "ultralytics", "nncf"))
    load = ", ".join(f"{r.other_load:.2f} cores at {r.prep.size}" for r in results
                     if r.other_load is not None) or "unknown"
    return (f"{cpu_model()}, {threads} thread(s) per engine, process pinned to CPUs {cpus}, {frames} synthetic "
            f"{frame_wh[0]}×{frame_wh[1]} frames × {rounds} rounds (median ms per frame, frame → full-size sky "
            "mask); "
            f"other processes' load while timing: {load}; "
            + ", ".join(f"{k} {v}" for k, v in versions.items()))


def _row_json(row: Any) -> dict[str, Any]:
    iou = row.iou
    return {"name": row.label, "family": row.family, "backend": row.backend or None, "precision": row.precision or None,
            "ms": round(row.ms, 3) if row.ms is not None else None,
            "iou_mean": round(iou[0], 4) if iou else None, "iou_min": round(iou[1], 4) if iou else None,
            "reachable": bool(row.reachable) if row.family == "skyseg" else False, "counts": row.counts,
            "note": row.note}


def to_json(results: list[Any], conditions: str) -> dict[str, Any]:
    sizes = []
    for res in results:
        picked, theirs = auto_row(res), best(res.rows, "ultralytics")
        auto = None
        if res.auto is not None:
            a = res.auto
            auto = {"name": a.name, "backend": a.backend, "model": str(a.model), "options": dict(a.options),
                    "source": a.source, "reason": a.reason, "evidence": list(a.evidence)}
        sizes.append({
            "size": res.prep.size, "hw": list(res.prep.hw), "other_load_cores": res.other_load,
            "rows": [_row_json(r) for r in res.rows], "auto": auto,
            "auto_row": _row_json(picked) if picked else None,
            "best_ultralytics": _row_json(theirs) if theirs else None,
            "auto_vs_ultralytics": round(theirs.ms / picked.ms, 3) if picked and theirs else None,
            "int8_vs_fp32": [{"backend": i.backend, "int8": i.label, "fp32": f.label, "int8_ms": round(i.ms, 3),
                              "fp32_ms": round(f.ms, 3), "ratio": round(f.ms / i.ms, 3),
                              "int8_iou_min": round(i.iou[1], 4)} for i, f in int8_pairs(res)]})
    return {"conditions": conditions, "targets": {"auto_vs_ultralytics": ULTRALYTICS_TARGET,
                                                  "int8_vs_fp32": INT8_TARGET, "iou_min": IOU_FLOOR},
            "sizes": sizes}
