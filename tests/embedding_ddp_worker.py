"Run by tests/test_embedding_cache.py under `torchrun --nproc_per_node=2`: embed texts through a shared cache."
import json, sys
from pathlib import Path
import numpy as np
import torch.distributed as dist
from finann.embedding import HashingEmbedding

cache_dir, out, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
dist.init_process_group('gloo')
rank = dist.get_rank()
texts = [f"call {i}: revenue {'beat' if i % 3 else 'missed'} by {i % 17} cents" for i in range(301)]
texts += texts[:40]  # repeated texts are embedded once
emb = HashingEmbedding(n_features=128, cache_dir=cache_dir, show_progress_bar=False, shard_rows=64)
if mode == 'main_first' and rank != 0: dist.barrier()  # what `TrainingArguments.main_process_first` does
inverse, vecs = emb.embed_unique(texts)
if mode == 'main_first' and rank == 0: dist.barrier()
np.save(out / f'rank{rank}.npy', vecs[inverse])
(out / f'rank{rank}.json').write_text(json.dumps(emb.last_stats))
dist.barrier()
dist.destroy_process_group()
