"""Recognition without TensorFlow: the recogniser contract every backend and caller shares, reading
order, the page record the output formats are written from, and folder and batch runs."""
