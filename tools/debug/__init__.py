"""Debugging: the debug target over a running kernel and the gdb remote stub."""
