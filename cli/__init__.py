"""The `tiertrace` command line: the one place that wires the core, the portal and the worker together."""
