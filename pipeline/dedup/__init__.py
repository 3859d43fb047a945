"""Deduplication building blocks (pure, engine-free): text normalisation and shingles, MinHash
signatures equal to `datasketch.MinHash`, LSH banding, CCNet-style line hashes and the keep rule.
The Spark program that wires them together is `jobs/dedup.py`.
"""
