"""Inter-process communication: shared-memory segments, messages and futexes."""
