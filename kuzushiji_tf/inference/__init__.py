"""TensorFlow graphs around trained models: detection with NMS, page recognition, export."""
