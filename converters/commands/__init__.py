"""CLI command modules: each has configure(parser) and run(args); heavy imports stay inside run."""
