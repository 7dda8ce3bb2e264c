"""After distillation: quantisation, pruning, ONNX export and their accuracy/speed trade-offs
(``compression``)."""
