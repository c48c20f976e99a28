#!/usr/bin/python3
"""A real RTSP server for the capture tests: serves a video file, looping, at rtsp://127.0.0.1:PORT/test.

Usage: rtsp_server.py PORT VIDEO FPS WORKDIR [USER PASSWORD]. With USER and PASSWORD the stream asks for HTTP basic
authentication (RTSP 401 without them or with others). GStreamer's gst-rtsp-server (Debian: gir1.2-gst-rtsp-server-1.0 and
the GStreamer plugins scripts/setup.sh installs) encodes H.264 for each client that connects. The file is first cut
into JPEG frames in WORKDIR (once; a restarted server reuses them) because multifilesrc loops a frame sequence
forever with steady timestamps, which a demuxed file does not do without seeking at every end.
"""
import glob, os, subprocess, sys

import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer

port, video, fps, workdir = sys.argv[1:5]
os.makedirs(workdir, exist_ok=True)
if not glob.glob(os.path.join(workdir, "*.jpg")):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", video, "-q:v", "3",
                    "-start_number", "0", os.path.join(workdir, "%05d.jpg")], check=True)

Gst.init(None)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( multifilesrc location="{workdir}/%05d.jpg" loop=true caps="image/jpeg,framerate={fps}/1" ! jpegdec '
    "! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )")
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
if len(sys.argv) >= 7:
    user, password = sys.argv[5:7]
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "viewer")
    auth = GstRtspServer.RTSPAuth()
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("viewer", "media.factory.access", True)
    permissions.add_permission_for_role("viewer", "media.factory.construct", True)
    factory.set_permissions(permissions)
server.get_mount_points().add_factory("/test", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on port {port}")
print("serving", flush=True)
GLib.MainLoop().run()
