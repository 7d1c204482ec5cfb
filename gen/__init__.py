"""Amaranth generators of sparse and low-bit DNN accelerator cores."""
