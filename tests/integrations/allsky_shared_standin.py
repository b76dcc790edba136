"""A stand-in for the parts of AllskyTeam/allsky's `allsky_shared` module that allsky_skyseg.py uses: the frame
being processed (`image`, BGR), `log(level, text)`, `getEnvironmentVariable(name)` and `saveExtraData(file, data)`
(JSON into the folder named by ALLSKY_EXTRA, as allsky's does). Written from the module contract, not copied."""
from __future__ import annotations

import json
import os

image = None
messages: list = []


def log(level, text):
    messages.append((level, text))


def getEnvironmentVariable(name):  # allsky's spelling
    return os.environ.get(name)


def saveExtraData(file_name, extra_data):  # allsky's spelling
    folder = os.environ["ALLSKY_EXTRA"]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, file_name), "w") as handle:
        json.dump(extra_data, handle, indent=4)
