"""Where results go: the sink interface (`base`), annotation, image folders, masks, result tables, annotated video
and display. A new output goes here as one `base.Sink` subclass, chosen in `skyseg.runtime.run.outputs`. Sinks consume
results; they never reach back into the backend."""
