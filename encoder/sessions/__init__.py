"""Inference sessions behind one small interface: ONNX Runtime or OpenVINO, f32 or bf16, chosen per model.

`open.open_session(model, settings, name)` is what the models call: it resolves the settings' runtime and precision
(choice.py: `auto` times the candidates once per CPU model and model file, then reads the cached choice) and opens
the session (onnxruntime_session.py, openvino_session.py, both `base.ModelSession`). Nothing is imported here, so
reading the names (base.py) loads no runtime.
"""
