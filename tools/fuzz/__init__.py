"""Fuzzing: random-program campaigns, hostile programs, leak checks, system-call fuzzing."""
