"""`skyseg demo`: the whole pipeline end to end on the bundled model and a generated clip (`clip`)."""
