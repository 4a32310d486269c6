"""Workstation side: MotionSense data pipeline, Keras models, training recipes and evaluation (TensorFlow)."""
