"""The gateway daemon: devices -> engine -> spool -> sinks, with config, logs, metrics, systemd."""
