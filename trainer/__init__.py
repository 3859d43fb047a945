"""GPU pretraining on the shards, orchestrated by Ray Train, with a final high-quality anneal.

    model.py       the GPT (RoPE, RMSNorm, SwiGLU, SDPA, tied embeddings); presets tiny/124m/350m/1b
    data.py        Megatron shards -> domain mixture (manifest weights, epoch caps) -> packed windows;
                   resumable cursor; switches to the anneal mix (hq shards blended in) at the decay start
    schedule.py    warmup-stable-decay learning rate, `phase(step)`
    train_loop.py  the per-rank loop (DDP / FSDP2, bf16 + compile on CUDA, eval, metrics, agreed data end)
    evaluate.py    per-domain validation loss, every rank running the same forwards
    checkpoint.py  sharded DCP checkpoints, meta.json and the resume / branch checks
    metrics.py     peak-FLOPS table (MFU), peak memory, the metrics.jsonl writer
    train.py       the Ray entry (`TorchTrainer`, resume, `--address`)
    local.py       the same loop without Ray: in-process, or N ranks via torch.multiprocessing; train_tokens
    proxies.py     `fit-mixture`: proxy trainings for `mixing propose` -> `mixing fit`
    baseline.py    a plain single-process loop, the reference of the Ray-overhead benchmark
    demo_shards.py synthetic shards + manifest for tests and smoke runs

Command line: `python -m trainer train|fit-mixture --out OUT ...` (see __main__.py).
"""
