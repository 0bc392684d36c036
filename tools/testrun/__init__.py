"""`ia32k test`: programs that state what they should do in an expectation
header, run through `ia32k run` and checked (docs/testing-programs.md)."""
