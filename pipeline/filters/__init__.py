"""The `filter` stage (pipeline/filters/stage.py: FilterStage) and its rule families.

- nsfw.py, blocklist.py: URL blocklists (pre-checks before extraction) and the LDNOOBW word ratio.
- gopher.py, c4.py, fineweb.py: heuristic quality rules (Gopher quality + repetition, C4, FineWeb),
  sharing one tokenisation of each document (text_stats.py) and one rule-family base (rule_filter.py).
- pii.py: PII detection and replacement, run last so the heuristics see the extracted text.
"""
