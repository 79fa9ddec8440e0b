"""Developer tooling for this project; not part of the installed package."""
