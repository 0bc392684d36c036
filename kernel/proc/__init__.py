"""Processes: the process table, loading images, fork, and the process system calls."""
