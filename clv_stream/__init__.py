"""clv-stream: streaming, real-time customer lifetime value."""

__version__ = "0.1.0"
