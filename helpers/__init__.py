"""Helpers for the notebook series "Eager-mode INT8 quantization of a ResNet18, accelerated with TensorRT": one module
per stage (the README's map of the repository lists each with the notebooks that use it)."""
