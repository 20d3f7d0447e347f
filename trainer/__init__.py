"""The Flamingo trainer: model, Parquet data loading, training loop, generation."""
