"""BLE wire protocol, device profiles, emulated wearables and reference firmware (no TensorFlow)."""
