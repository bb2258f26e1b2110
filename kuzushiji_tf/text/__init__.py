"""Classical Japanese text: the documents the language model and the synthetic pages' columns come from."""
