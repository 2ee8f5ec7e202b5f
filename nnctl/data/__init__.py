"""Data: arrays in, arrays out — sources, CSV, the split, and the Preprocessor. Never imports training or the CLI."""
