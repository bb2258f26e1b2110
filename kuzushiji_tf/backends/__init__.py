"""What runs an exported page recogniser: `tf` (the SavedModel graph and its export) and `onnx` (ONNX
Runtime with numpy glue). Each imports only the TF-free contract (`kuzushiji_tf.recognition.contract`);
`loading.load_page_model` picks one for a folder."""
