"""Documents: parsing bytes into text with page offsets, each in a bounded worker process."""
