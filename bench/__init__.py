"""The benchmarks behind BENCHMARKS.md, run from the repository root as `python -m bench.<name>`.

bench/common/  what the benchmarks share: paths and interpreters (env), the inputs of the end-to-end
               benchmarks (inputs), the extraction ground truth and its metric (corpora), process-tree
               CPU accounting (proc_cpu), the real-text corpus of the scale benchmark.
bench/peers/   the runners a benchmark starts in a process of their own: in .venv-bench (`make bench-env`)
               datatrove's FineWeb pipeline, its WARC extraction and its heuristic filters, the peer
               extractors (resiliparse, datatrove's Trafilatura) and HF `tokenizers`; in .venv our
               engine-free stage functions.
bench/results_table.py  the one result format (`write_result`) and the renderer of BENCHMARKS.md.
"""
