"""The `ia32k` command line."""
