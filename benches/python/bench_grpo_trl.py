#!/usr/bin/env python3
"""One-process, offline TRL GRPOTrainer benchmark on a random Qwen2 model + an offline WordLevel tokenizer.

Prints ONE JSON line on stdout (logs go to stderr). Peer baseline for the Rust GRPO loop.

  python bench_grpo_trl.py [--cuda] [--steps 6] [--warmup-steps 1] [--batch 8] [--num-generations 4]
                           [--prompt-len 32] [--max-completion-length 64] [--beta 0.0] [--loss-type dapo]
                           [--model qwen2-small|DIR] [--out /tmp/grpo_bench] [--threads 2]

Setup (all TRL defaults unless listed): per_device_train_batch_size=--batch (completions per optimizer step),
num_generations=--num-generations (so batch/num_generations distinct prompts per step), steps_per_generation=1,
num_iterations=1, temperature=1.0, top_p=1, top_k=0, lr=1e-5, AdamW, bf16=False (fp32), use_cpu=True,
gradient_checkpointing=False (TRL default is True; off here = faster on CPU), logging_steps=1, report_to=none.
Reward: fraction of completion words whose id is even (trivial, deterministic, cheap).
EOS is never sampled on purpose (suppressed) so every completion has exactly max_completion_length tokens.
Breakdown comes from TRL's own profiling_context hooks (monkeypatched to record durations):
  generate = "GRPOTrainer.transformers.generate", score = "_calculate_rewards",
  logps = "_get_per_token_logps_and_entropies" (ref-model logps when beta>0 happen inside
  _generate_and_score_completions; the policy logps forward is inside compute_loss),
  loss = "compute_loss" (policy forward + loss), backward+optimizer = step - (gen_and_score + compute_loss).
"""
import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def build_tokenizer(vocab_size):
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast
    specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    vocab = {t: i for i, t in enumerate(specials)}
    for i in range(vocab_size - len(specials)):
        vocab[f"w{i}"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins tokens with spaces
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
                                   unk_token="<unk>")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup-steps", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--num-generations", type=int, default=4)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--max-completion-length", type=int, default=64)
    ap.add_argument("--beta", type=float, default=0.0)
    ap.add_argument("--loss-type", default="dapo")
    ap.add_argument("--model", default="qwen2-small")
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--out", default="/tmp/grpo_bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cuda", action="store_true", help="train on the GPU (the wgpu comparison); default CPU")
    ap.add_argument("--keep-state", help="copy trainer_state.json here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    import trl
    import transformers
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer
    import trl.extras.profiling as prof

    timings = defaultdict(list)
    orig = prof.ProfilingContext._log_metrics

    def _rec(self, duration):
        timings[self.name].append((self.step, duration))
        return orig(self, duration)

    prof.ProfilingContext._log_metrics = _rec

    from bench_torch import build_model, Contention
    model, is_vlm = build_model(a.model, a.attn)
    assert not is_vlm, "this script benchmarks text-only GRPO"
    V = model.config.vocab_size
    tok = build_tokenizer(V)
    model.config.pad_token_id, model.config.bos_token_id, model.config.eos_token_id = 0, 1, 2
    model.generation_config.pad_token_id, model.generation_config.bos_token_id = 0, 1
    model.generation_config.eos_token_id = 2

    g = torch.Generator().manual_seed(0)
    n_prompts = (a.steps + a.warmup_steps) * a.batch // a.num_generations + 8
    prompts = [" ".join(f"w{int(i)}" for i in torch.randint(0, V - 4, (a.prompt_len,), generator=g))
               for _ in range(n_prompts)]
    ds = Dataset.from_dict({"prompt": prompts})

    def even_fraction(completions, **kw):
        out = []
        for c in completions:
            ws = c.split()
            out.append(sum(1 for w in ws if w.startswith("w") and w[1:].isdigit() and int(w[1:]) % 2 == 0)
                       / max(len(ws), 1))
        return out

    step_times = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            step_times.append(time.perf_counter() - self.t0)

    cfg = GRPOConfig(
        output_dir=a.out, per_device_train_batch_size=a.batch, num_generations=a.num_generations,
        max_completion_length=a.max_completion_length, learning_rate=1e-5, beta=a.beta, loss_type=a.loss_type,
        max_steps=a.steps + a.warmup_steps, logging_steps=1, report_to="none", save_strategy="no",
        bf16=False, fp16=False, use_cpu=not a.cuda, gradient_checkpointing=False, seed=0, dataloader_num_workers=0,
        generation_kwargs={"suppress_tokens": [2]},  # never stop early -> fixed completion length
        disable_tqdm=True,
    )
    trainer = GRPOTrainer(model=model, reward_funcs=even_fraction, args=cfg, train_dataset=ds,
                          processing_class=tok)
    trainer.add_callback(Timer())
    with Contention() as c:
        t0 = time.perf_counter()
        trainer.train()
        total = time.perf_counter() - t0
    hist = trainer.state.log_history
    if a.keep_state:
        trainer.state.save_to_json(a.keep_state)

    w = a.warmup_steps
    meas = step_times[w:]

    def per_step(name, agg=sum):
        by = defaultdict(list)
        for st, d in timings.get(name, []):
            by[st].append(d)
        vals = [agg(v) for st, v in sorted(by.items()) if st >= w]
        return statistics.median(vals) if vals else None

    names = sorted(timings)
    breakdown = {n.replace("GRPOTrainer.", ""): per_step(n) for n in names}
    res = {
        "bench": "trl_grpo_step", "median_step_s": statistics.median(meas), "min_step_s": min(meas),
        "max_step_s": max(meas), "steps_measured": len(meas), "step_times_s": [round(x, 3) for x in step_times],
        "breakdown_median_s": breakdown,
        "completion_tokens_per_step": a.batch * a.max_completion_length,
        "batch": a.batch, "num_generations": a.num_generations, "prompt_len": a.prompt_len,
        "max_completion_length": a.max_completion_length, "beta": a.beta, "loss_type": a.loss_type,
        "model": a.model, "params": sum(p.numel() for p in model.parameters()), "threads": a.threads,
        "other_procs_cpu_frac": round(c.other_cpu_frac, 3), "total_train_s": total,
        "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
        "logged_keys": sorted(k for k in hist[0].keys()) if hist else [],
        "last_log": hist[-2] if len(hist) >= 2 else None,
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
