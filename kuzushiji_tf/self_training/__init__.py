"""Self-training: pseudo-labels from unlabelled pages (the recipe's test pages, real scans) written as
records the training loop reads beside the labelled ones."""
