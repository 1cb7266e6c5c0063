"""Run S2D on your own video: find the face, cut windows of time, run the model, write results.

``python -m s2d_lib.predict VIDEO --checkpoint CKPT [--out DIR] [--window-seconds S]
[--stride-seconds S | --consecutive] [--precision auto|fp32|bf16|int8|compile]``

The face is found with BlazeFace (:mod:`s2d_lib.face_detection`; dlib's HOG detector with
``--detector dlib``, a centre crop with ``--detector none``); with several faces the largest
face track is followed and the summary says which. The crop is turned so that the eyes are level
and cut square with a margin, as the datasets align theirs, and resized to the model's input. A window is a span of time with the model's T frames spread uniformly inside it,
by default the span of the checkpoint's training clips (:func:`training_span`: about 3 s for the
authors' DFEW checkpoints), or T consecutive frames (``--consecutive``, the default for models
trained on contiguous windows); each window gets a softmax over the classes, and a centred
moving average over ``--smooth`` windows steadies the timeline. Windows in which the face is
seen in fewer than ``--min-face`` of the frames get no emotion. ``--out`` receives
``predictions.csv`` / ``predictions.json`` (per window: its frame indices, start, end and centre
time, face fraction, raw and smoothed probabilities), ``timeline.png`` (the probabilities under
a filmstrip of the face, windows without a face in grey) and ``annotated.mp4`` (or
``annotated.gif`` with ``--gif``).

Modules: :mod:`~s2d_lib.predict.windows` (which frames a window holds),
:mod:`~s2d_lib.predict.engine` (per-frame work shared between windows, precision options),
:mod:`~s2d_lib.predict.stream` (a video read forward in constant memory, upright, at a
working size), :mod:`~s2d_lib.predict.video` (one video -> :class:`Prediction`),
:mod:`~s2d_lib.predict.outputs` (files), :mod:`~s2d_lib.predict.cli`, and two readings of a
result: :mod:`~s2d_lib.predict.confidence` (how sure, and what it says over a stretch) and
:mod:`~s2d_lib.predict.detection_misses` (which frames a face detector loses).
"""
from .cli import main, summary
from .confidence import Confidence, confidence_summary, label_counts, top_probability
from .detection_misses import DetectionRun, detect_every_frame, miss_runs
from .engine import INFERENCE_PRECISIONS, PROBABILITY_TOLERANCE, prepare_model, resolve_precision
from .outputs import OUTPUT_FILES, annotate_frame, timeline_figure, write_outputs, write_table
from .video import (MIN_FACE_FRACTION, NO_FACE, Prediction, PredictError,
                    class_names_for, predict_video, probe_fps)
from .windows import Windows, plan_windows, smooth_probs, training_span

__all__ = ["Prediction", "PredictError", "Windows", "plan_windows", "training_span",
           "smooth_probs", "class_names_for", "predict_video", "timeline_figure",
           "annotate_frame", "write_table", "write_outputs", "main", "summary", "INFERENCE_PRECISIONS",
           "PROBABILITY_TOLERANCE", "prepare_model", "resolve_precision", "OUTPUT_FILES",
           "MIN_FACE_FRACTION", "NO_FACE", "probe_fps", "Confidence", "confidence_summary",
           "label_counts", "top_probability", "DetectionRun", "detect_every_frame", "miss_runs"]
