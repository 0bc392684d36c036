"""Data races: the happens-before detector, its memory watcher, and the race finder."""
