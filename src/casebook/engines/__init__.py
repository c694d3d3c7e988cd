"""Hard cores shared by two or more systems."""
