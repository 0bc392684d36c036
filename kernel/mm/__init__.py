"""Memory management: physical frames, address spaces, large pages, code coherence."""
