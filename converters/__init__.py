"""Keras -> TFLite conversion, model bundles and mobile export (workstation side)."""
