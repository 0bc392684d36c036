"""Observers of a running kernel: invariant checker, traces, page-table dumps, maps, reports."""
