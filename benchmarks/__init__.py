"""Benchmarks: each prints its measurements as ratios against a ceiling measured in the same run.

Machines here are noisy, so absolute seconds mean little; a ratio against a ceiling taken
seconds earlier on the same machine does.
"""
