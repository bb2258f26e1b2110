"""The TensorFlow backend: one graph from an encoded page to its characters (`page_recognizer`), its
SavedModel export for TF Serving (`export`) and the loaded SavedModel as a `PageModel` (`saved_model`)."""
