"""sparseloom: generators and verification suite for sparse and low-bit DNN accelerators."""
__version__ = "0.1.0"
