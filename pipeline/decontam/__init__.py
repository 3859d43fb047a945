"""Benchmark decontamination (GPT-3 n-gram overlap): eval-set reading (`evalsets`), normalised words and
the n-gram index (`ngrams`), the row-wise stage with drop and cut modes (`stage`), and the
contamination report tables (`report`). The Spark adapter is `jobs/decontam.py`."""
