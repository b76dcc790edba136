"""The PyTorch-free runtime: frames in, sky masks out. At the top: the run loop (`pipeline`) and the types every
room shares (`frame`, `result`, `errors`, `atomic_file`, `timing`, `train_size`, `bundled_model`, `gst_pipeline`).
Rooms: `run/` (what the loop is configured with), `sources/`, `backends/`, `process/`, `sinks/`, `quality/`.
Nothing here imports the train side, benchmarks, the server or the scale-out jobs (import-linter contracts in
pyproject.toml)."""
