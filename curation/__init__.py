"""Pure, Beam-free curation logic: each function takes and returns plain values."""
