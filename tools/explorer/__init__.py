"""The --html explorer: the page builder, its template, and a headless browser."""
