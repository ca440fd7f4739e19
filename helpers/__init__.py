"""Helpers for the notebook series "Eager-mode INT8 quantization of a ResNet18, accelerated with TensorRT".

One module per stage, listed with the notebook that introduces it:

    config           profiles (quick/full), device, artifacts folder, atomic writes   notebook 00
    notebook         the opening line, showing a helper's source, skip lines          notebook 00
    envcheck         what this machine has and what is missing                        notebook 00
    data             CIFAR-10 from torchvision or an offline archive, augmentation    notebook 01
    model            the CIFAR ResNet18 and its checkpoints                           notebook 01
    training         training and evaluation loops, the weight average                notebook 01
    onnx_export      ONNX export with self-describing metadata                        notebook 01
    plotting         every plot of the series                                         notebook 01
    quantization     TensorRT-style qconfig on qnnpack, calibration, SQNR, INT8 save  notebook 02
    onnx_inspect     read-only questions about an ONNX graph                          notebook 02
    qdq_rules        a checker of TensorRT's Q/DQ rules                               notebook 03
    surgery          the graph-surgery passes, ONNX Runtime checks                   notebook 03
    netron_render    real Netron renders, headless                                    notebook 03
    fp16             the FP16-typed ONNX model                                        notebook 04
    tensorrt_engine  build, load, run, time and inspect TensorRT engines              notebook 04
    benchmark        trtexec-style latency and throughput for every runtime           notebook 04
    modelopt_compare the project's Q/DQ placement against NVIDIA ModelOpt's           notebook 05
    routes           PT2E (torchao) and ModelOpt PyTorch routes, residual placements  notebook 06
"""
