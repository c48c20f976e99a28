#!/usr/bin/python3
"""Peer benchmark: the loop a Python user would write instead of Edge.

    cv2.VideoCapture(video) -> per frame: cv2.dnn.blobFromImage -> net.setInput -> net.forward()

with net = cv2.dnn.readNetFromONNX(MODEL), MODEL being the ResNet18 featurizer ONNX from NuGet
Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx;
input Input247 [1,3,224,224], output Pooling395_Output_0 [1,512,1,1]).

Usage: peer_cv2dnn.py VIDEO MODEL [--max-frames N] [--threads T] [--inference-only N]

Prints one JSON line at the end: {"frames": N, "seconds": S, "fps": F, "threads": T}.
Timed: the whole loop, decode + blob + inference, excluding model load and one warm-up forward.
--inference-only N instead times N forwards of one preloaded blob (to see where the time goes).

Run it with Debian's interpreter (/usr/bin/python3, apt python3-opencv 4.6): a pyenv/venv `python3`
earlier on PATH has no cv2.
"""
import argparse
import json
import sys
import time

try:
    import cv2
except ImportError:
    sys.exit("peer_cv2dnn: no cv2 in %s; use /usr/bin/python3 with apt python3-opencv" % sys.executable)

# Preprocessing. The featurizer wants BGR planar float 0-255 minus a per-pixel mean image
# (initializer MeanImage [1,3,224,224] of ResNetPrepOnnx/ResNetPreprocess.onnx). A peer user would
# subtract a scalar per channel: these are that image's per-plane averages (B, G, R). This is an
# approximation that is fine for a peer benchmark (it changes the embeddings slightly, not the cost).
# OpenCV frames are already BGR, so swapRB=False. blobFromImage resizes to 224x224 (no crop).
MEAN_BGR = (103.06, 115.90, 123.15)
SIZE = (224, 224)


def blob_of(frame):
    return cv2.dnn.blobFromImage(frame, 1.0, SIZE, MEAN_BGR, swapRB=False, crop=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("video")
    ap.add_argument("model")
    ap.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0 = whole video)")
    ap.add_argument("--threads", type=int, default=2, help="cv2.setNumThreads (default 2)")
    ap.add_argument("--inference-only", type=int, default=0, metavar="N",
                    help="time N forwards of the first frame's blob instead of the video loop")
    a = ap.parse_args()

    cv2.setNumThreads(a.threads)
    net = cv2.dnn.readNetFromONNX(a.model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    cap = cv2.VideoCapture(a.video)
    if not cap.isOpened():
        sys.exit("peer_cv2dnn: cannot open %s" % a.video)

    # Warm-up: one forward on the first frame (not timed); the timed loop restarts at frame 0.
    ok, first = cap.read()
    if not ok:
        sys.exit("peer_cv2dnn: no frame decoded from %s" % a.video)
    warm = blob_of(first)
    net.setInput(warm)
    net.forward()

    if a.inference_only > 0:
        cap.release()
        n = a.inference_only
        t0 = time.perf_counter()
        for _ in range(n):
            net.setInput(warm)
            net.forward()
        dt = time.perf_counter() - t0
    else:
        cap.release()
        cap = cv2.VideoCapture(a.video)
        n = 0
        t0 = time.perf_counter()
        while a.max_frames <= 0 or n < a.max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            net.setInput(blob_of(frame))
            net.forward()
            n += 1
        dt = time.perf_counter() - t0
        cap.release()

    print(json.dumps({"frames": n, "seconds": round(dt, 3), "fps": round(n / dt, 2) if dt > 0 else 0.0,
                      "threads": a.threads}))


if __name__ == "__main__":
    main()
