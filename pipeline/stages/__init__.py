"""The Faust agents, one module per stage; each has ``install(worker, ...)``."""
