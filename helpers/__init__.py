"""Helpers for the notebook series "Eager-mode INT8 quantization of a ResNet18, accelerated with TensorRT".

One module per stage; each public function's docstring names the notebook that introduces it.

    config        profiles (quick/full), device, artifacts folder          notebook 00
    envcheck      what this machine has and what is missing                notebook 00
    data          CIFAR-10 from torchvision or an offline archive          notebook 01
    model         the CIFAR ResNet18 and its checkpoints                   notebook 01
    training      training and evaluation loops                           notebook 01
    onnx_export   ONNX export with self-describing metadata               notebook 01
    plotting      every plot of the series                                 notebook 01
"""
