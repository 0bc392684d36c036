"""Scheduling: the run queue, time slices and the PCT policy."""
