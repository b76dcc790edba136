"""The parts of a run that the one loop (`skyseg.runtime.pipeline.Pipeline`) is configured with: `config` (RunConfig,
RunSummary), `outputs` (the sinks a RunConfig asks for) and `progress` (the stop flag and the progress line).
No loop lives here: source → segmenter → sinks is assembled only by the Pipeline."""
