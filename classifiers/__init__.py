"""Trainable and loadable models: the Wikipedia-reference quality classifier (quality.py) and its
training data (wikipedia.py, quality_data.py), sharing one fastText text normalisation
(fasttext_text.py). CLI: `python -m classifiers --help`.
"""
