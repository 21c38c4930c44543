"""Where frames come from: a camera, a stream URL, a video file or a folder of images.

Live sources (`--camera`, `--url`, and `--video` played at its own frame rate) are read by a grabber
thread into a one-frame slot: the door always works on the newest picture and drops the frames it had no
time for, so a decision never waits behind a queue of old frames. Cameras and URLs reconnect with backoff
and say so; files and folders end, and the door then exits.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

log = logging.getLogger("facegrid.door")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 10.0
STREAM_TIMEOUT_MS = 5000


@dataclass(frozen=True, eq=False)   # identity: frames hold arrays
class Frame:
    """One picture, upright, BGR, with its time in the source (seconds) and when it reached us (monotonic)."""

    image: np.ndarray
    index: int
    time: float
    wall: float


class SourceError(RuntimeError):
    """A file or folder that cannot be read at all."""


class LatestFrame:
    """A one-frame slot between a grabber thread and the door: a new frame replaces one not yet taken."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._frame: Frame | None = None
        self._ended = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        """Hand the door the newest frame, dropping one it has not taken yet."""
        with self._ready:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._ready.notify()

    def end(self) -> None:
        """Say that no more frames will come, waking a door waiting for one."""
        with self._ready:
            self._ended = True
            self._ready.notify()

    def take(self) -> Frame | None:
        """The newest frame (waiting for one), or None once the source has ended and nothing is left."""
        with self._ready:
            while self._frame is None and not self._ended:
                self._ready.wait()
            frame, self._frame = self._frame, None
            return frame


class Source:
    """Frames in order; `stop` (from another thread or a signal handler) ends them."""

    description = ""
    live = True   # frames arrive in real time (may be dropped), not one by one on demand
    _stopping: threading.Event

    def frames(self) -> Iterator[Frame]:
        """The frames, in order, until the source ends or is stopped."""
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the frames to end; safe from another thread or a signal handler."""
        self._stopping.set()

    def close(self) -> None:
        """Stop, and wait for a reader thread to let go of its capture (an interpreter exiting under a thread
        still inside FFmpeg aborts)."""
        self.stop()

    @property
    def dropped(self) -> int:
        """How many frames were dropped because the door was busy (none for a source read on demand)."""
        return 0


def open_video(path: str) -> cv2.VideoCapture:
    """A capture of a video file with rotation metadata applied (phone videos come out upright)."""
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise SourceError(f"cannot read the video {path}")
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)   # OpenCV's default for FFmpeg; set so it never depends on one
    return capture


def read_video(path: str) -> Iterator[tuple[np.ndarray, float]]:
    """(frame, seconds from the start) of every frame of a video file, upright."""
    capture = open_video(path)
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            position = capture.get(cv2.CAP_PROP_POS_MSEC)
            yield image, (position / 1000.0 if position > 0 or index == 0 else index / fps)
            index += 1
    finally:
        capture.release()


class Grabbed(Source):
    """A source whose frames a grabber thread puts in a one-frame slot: frames the door has no time for are
    dropped, not queued. Subclasses say how frames are grabbed (`_grab`) and how long closing may wait."""

    thread_name = "door-grabber"
    close_wait_s = 10.0

    def __init__(self, description: str) -> None:
        self.description = description
        self._slot = LatestFrame()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def frames(self) -> Iterator[Frame]:
        """Start the grabber thread and yield the newest frame each time the door is ready for one."""
        self._thread = threading.Thread(target=self._grab, name=self.thread_name, daemon=True)
        self._thread.start()
        while (frame := self._slot.take()) is not None:
            yield frame

    def _grab(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop, and wait a while for the grabber thread to let go of its capture."""
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout=self.close_wait_s)

    def stop(self) -> None:
        """Stop the grabber and wake the door at once."""
        super().stop()
        self._slot.end()   # the door stops now, not when a stalled read gives up

    @property
    def dropped(self) -> int:
        """How many frames the door had no time for."""
        return self._slot.dropped


class Paced(Grabbed):
    """Recorded frames delivered at their own times, as a camera would: a grabber thread puts each in the
    one-frame slot when its time comes, so frames the door has no time for are dropped, not queued."""

    thread_name = "door-playback"

    def __init__(self, recording: Callable[[], Iterator[tuple[np.ndarray, float]]], description: str) -> None:
        super().__init__(description)
        self._recording = recording

    def _grab(self) -> None:
        try:
            start = time.monotonic()
            for index, (image, seconds) in enumerate(self._recording()):
                delay = start + seconds - time.monotonic()
                if delay > 0 and self._stopping.wait(delay):
                    return
                if self._stopping.is_set():
                    return
                self._slot.put(Frame(image, index, seconds, time.monotonic()))
        except Exception:  # noqa: BLE001 - a decoder failure mid-file ends the playback, it must not hang the door
            log.exception("%s: reading failed", self.description)
        finally:
            self._slot.end()


class VideoFile(Source):
    """A video file: at its own frame rate as a camera would deliver it (dropping frames the door has no time
    for), or with `fast`, every frame one after the other."""

    def __init__(self, path: str, fast: bool = False) -> None:
        if not Path(path).is_file():
            raise SourceError(f"no such video file: {path}")
        open_video(path).release()   # unreadable: say so now, not from the grabber thread
        self.path, self.fast, self.live = path, fast, not fast
        self.description = f"video {path}" + (" (as fast as possible)" if fast else "")
        self._stopping = threading.Event()
        self._paced = None if fast else Paced(lambda: read_video(path), self.description)

    def frames(self) -> Iterator[Frame]:
        """The video's frames: paced like a camera, or one by one as fast as the door takes them."""
        if self._paced is not None:
            yield from self._paced.frames()
            return
        for index, (image, seconds) in enumerate(read_video(self.path)):
            if self._stopping.is_set():
                return
            yield Frame(image, index, seconds, time.monotonic())

    def stop(self) -> None:
        """Stop reading the video."""
        super().stop()
        if self._paced is not None:
            self._paced.stop()

    def close(self) -> None:
        """Stop and release the video."""
        self.stop()
        if self._paced is not None:
            self._paced.close()

    @property
    def dropped(self) -> int:
        """How many frames the door had no time for (none when read as fast as possible)."""
        return self._paced.dropped if self._paced is not None else 0


class FramesFolder(Source):
    """The images of a folder in name order, as frames `1/fps` seconds apart."""

    live = False

    def __init__(self, folder: str, fps: float = 10.0) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"no such folder: {folder}")
        self.paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
        self.fps = fps
        self.description = f"{len(self.paths)} images in {folder}"
        self._stopping = threading.Event()

    def frames(self) -> Iterator[Frame]:
        """The folder's readable images as frames, skipping (and logging) files OpenCV cannot read."""
        for index, path in enumerate(self.paths):
            if self._stopping.is_set():
                return
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)   # EXIF orientation applied
            if image is None:
                log.warning("skipping %s: not an image OpenCV can read", path)
                continue
            yield Frame(image, index, index / self.fps, time.monotonic())


class LiveCapture(Grabbed):
    """A camera or stream read by a grabber thread; reconnects with backoff for as long as the door runs."""

    thread_name = "door-capture"
    close_wait_s = STREAM_TIMEOUT_MS / 1000 + 2

    def __init__(self, opener: Callable[[], cv2.VideoCapture], description: str) -> None:
        super().__init__(description)
        self._opener = opener

    def _grab(self) -> None:
        delay, index, capture = RECONNECT_FIRST_S, 0, None
        try:
            while not self._stopping.is_set():
                if capture is None:
                    capture = self._opener()
                    if not capture.isOpened():
                        capture.release()
                        capture = None
                        log.warning("%s: cannot open; trying again in %.1f s", self.description, delay)
                        self._stopping.wait(delay)
                        delay = min(delay * 2, RECONNECT_MAX_S)
                        continue
                    log.info("%s: connected", self.description)
                ok, image = capture.read()
                if not ok:
                    capture.release()
                    capture = None
                    log.warning("%s: lost; reconnecting in %.1f s", self.description, delay)
                    self._stopping.wait(delay)
                    delay = min(delay * 2, RECONNECT_MAX_S)
                    continue
                delay = RECONNECT_FIRST_S
                now = time.monotonic()
                self._slot.put(Frame(image, index, now, now))
                index += 1
        finally:
            if capture is not None:
                capture.release()
            self._slot.end()


def camera(index: int, width: int = 640, height: int = 480) -> LiveCapture:
    """A V4L2 camera (/dev/video<index>) at width x height."""
    def opener() -> cv2.VideoCapture:
        capture = cv2.VideoCapture(index, cv2.CAP_V4L2)
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)   # the newest frame, not one the driver queued earlier
        return capture

    return LiveCapture(opener, f"camera {index}")


def stream(url: str) -> LiveCapture:
    """An RTSP or HTTP (MJPEG) stream through FFmpeg."""
    def opener() -> cv2.VideoCapture:
        # A stalled stream ends a read after 5 s (FFmpeg's own wait is 30 s) and is reconnected.
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                                                         cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS])
        capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        return capture

    return LiveCapture(opener, f"stream {redact_url(url)}")


def redact_url(url: str) -> str:
    """The URL without a password in it (rtsp://user:secret@host/ -> rtsp://user:***@host/), for logs."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    credentials, at, host = authority.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}{slash}{path}"
