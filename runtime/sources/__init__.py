"""Where frames come from: the source URI grammar (`uri`), GStreamer camera/RTSP/video sources, still-image and
FITS readers, watch folders, and the MP4/MOV container check. A new kind of source goes here: parse it in
`uri.parse_source` and open it in `uri.open_source`. Sources yield `Frame`s or `FrameError`s, never raise per frame."""
