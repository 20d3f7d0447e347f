"""Apache Beam composites wiring curation/ into jobs, and the curate CLI."""
