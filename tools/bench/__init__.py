"""Benchmarks: ratios against bare Unicorn, measured in one run (`make bench`)."""
