"""Recognition of a whole library on Apache Beam: the same pipeline on one machine (DirectRunner, Prism)
and on Dataflow, Flink or Spark.

`pipeline.run_recognition` is what `kuzushiji-recognize --runner NAME` calls. The driver lists the pages
(`listing`), the workers read each page, run the exported page recogniser through Beam's RunInference
(`model_handler`: the model loaded once per worker, pages batched), build the reading order and write
each page's files in the folder CLI's layout (`storage`: local folders or any filesystem Beam reads), and
one step at the end writes summary.csv, the dead-letter file and tei.xml.

Needs the `beam` extra (`pip install -e .[beam]`); the rest of the package never imports Beam.
"""
