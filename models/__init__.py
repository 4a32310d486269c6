"""Workstation side: MotionSense data pipeline, Keras models, training recipes and evaluation (TensorFlow)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter hides the numbers that matter
