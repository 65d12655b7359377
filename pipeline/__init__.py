"""hashwatch's stream processing side: the Faust app, its processors and its sinks."""

__version__ = "0.1.0"
