"""A real RTSP server for the tests (GStreamer's gst-rtsp-server, Debian's gir1.2-gst-rtsp-server-1.0):
`python rtsp_server.py PORT [DELAY_S]` serves a live 64×48 test pattern as RTP/JPEG at rtsp://127.0.0.1:PORT/cam,
starting to listen only after DELAY_S seconds (a camera that boots late)."""
from __future__ import annotations

import sys
import time


def available() -> bool:
    try:
        import gi

        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GstRtspServer  # noqa: F401
    except (ImportError, ValueError):
        return False
    return True


def main(port: int, delay_s: float) -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    time.sleep(delay_s)  # the port stays closed until then
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch("( videotestsrc is-live=true ! video/x-raw,format=I420,width=64,height=48,framerate=10/1 ! "
                       "jpegenc ! rtpjpegpay name=pay0 pt=26 )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port}")
    print("listening", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
