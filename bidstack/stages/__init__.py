"""Market stages on Polars frames: each validates its inputs and runs a ``bidstack.kernel``."""
