"""`skyseg serve`: the live night dashboard, a thin ASGI layer over the same pipeline `skyseg run` drives.

What belongs here: the live pipeline wrapper (`live_pipeline.py`: the run loop in a thread, a switchable
segmenter, one-off uploads), the state the page reads (`live_state.py`, fed by `live_sink.py`), upload checks
(`uploads.py`), table downloads (`exports.py`), the Starlette app (`app.py`, routes in `routes_*.py`), the token
gate (`auth.py`), the uvicorn entry (`server.py`) and the static page (`static/`: HTML, one JS module, a
hand-written chart, CSS). What must not: pipeline logic in route handlers, or any import of the train side
(PyTorch, Ultralytics, ONNX, skyseg.models/export/calib/synth) or of skyseg.bench: this runs on a Jetson.
"""
