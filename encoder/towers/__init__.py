"""Models of towers (image, text, further modalities) into one vector space, served on ONNX Runtime."""
