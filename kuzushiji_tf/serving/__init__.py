"""The HTTP side of the page recogniser: `python -m kuzushiji_tf.serve` (FastAPI on uvicorn).

- `app`: the routes (TF Serving's REST predict, /recognize, /healthz, /metrics, the web page),
- `batching`: concurrent pages batched into one model call, off the event loop, with a bounded queue,
- `uploads`: reading a request's image under the size caps and checking what it really is,
- `tf_serving_rest`: TF Serving's REST request and response shapes,
- `metrics`: the Prometheus counters and histograms,
- `static/`: the web page (plain HTML, CSS and JavaScript; no build step).
"""
