"""Benchmarks behind `pushinject bench`; one module per benchmark."""
