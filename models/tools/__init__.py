"""Developer tools around the model: carrying an old checkpoint into the current config (`upgrade`), randomised
BatchNorm/branch statistics for the equivalence tests (`randomise`) and the GPU train-vs-deploy check (`gpu_check`).

None of these is on the path of `train`, `export` or `run`; a new one-off model check belongs here.
"""
