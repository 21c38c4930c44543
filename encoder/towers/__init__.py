"""Model towers loaded from model folders: tokenizer, preprocessing, ONNX towers and their registry."""
