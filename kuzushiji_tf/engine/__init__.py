"""The training engine: one custom `strategy.run` loop for every tf.distribute strategy."""
