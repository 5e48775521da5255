"""Speed and scale of every model: ``python -m erc_lib.bench``.

What it measures, for each model (``logreg``, ``bigru``, ``sdt``, ``sdt_bios`` = SDT with
speaker bios, ``compm`` = CoMPM/EmoNet frozen, ``compm_finetune``, ``mister_e``) at two sizes
(:data:`SIZES`: the notebook's, from ``configs/defaults.yaml``, and the paper's), under each
training mode (:data:`MODES`: ``default`` = plain shuffled batches, the trainer before length
bucketing; ``bucketed``; ``fast`` = bucketed + fused optimizer, today's defaults) and each CPU
thread count:

* training utterances per second (forward + backward + optimizer step; a one-step warm-up
  run of the same model is excluded) and the seconds per epoch over IEMOCAP's training set,
* inference utterances per second (:func:`erc_lib.training.predict` over the training set),
* peak memory: resident set size on the CPU (sampled by psutil, or the process's peak from
  ``resource`` without it), ``torch.cuda.max_memory_allocated`` on CUDA,
* the padding share (padded positions / all positions) of the mode's training batches,

on IEMOCAP-shaped data: the real IEMOCAP dialogues (lengths, speakers, labels, texts) with
random features of the widths the models read (:data:`FEATURE_DIMS`: MiniLM text, IS10 audio).
A scaling table gives the seconds per training step for batches of dialogues of 25 ... 400
utterances (attention grows quadratically, recurrences linearly). A per-dataset table gives
the seconds per epoch on the real dialogue lengths of each dataset a model runs on in the
notebooks (:data:`DATASET_MODELS`; notebook size, one thread, ``default`` and ``fast`` modes),
and metrics checks train real-feature runs before and after a change of computation
(:data:`CHANGES`: length bucketing; SDT's position-wise layers on real utterances only) over
several seeds and report the difference of test weighted F1 with a paired bootstrap 95%
interval, so the effect of each change on results can be read against seed noise. A step table
(``steps``, :func:`step_comparison`) times single training steps of SDT (text, audio and
visual: nine source -> target transformers) and MiSTER-E at the papers' sizes on identical
IEMOCAP-shaped batches, each computation (:data:`STEP_COMPUTATIONS`: padded, packed) and way a
step can run (:data:`STEP_WAYS`: eager, ``torch.compile``), with the share of the eager step
spent in matrix multiplications (torch.profiler), which bounds what fusing the other operations
can gain. The best thread count of
each model goes into the JSON (``best_threads``), which ``runtime.set_cpu_threads(device,
"auto")`` reads from ``results/reference/bench.json``.

Every run goes through :func:`erc_lib.experiment.run_experiment` and
:func:`erc_lib.training.fit`, the models are built by :func:`erc_lib.zoo.model_spec`, so the
benchmark times the code the notebooks run.

Usage::

    python -m erc_lib.bench --quick                       # < 3 min on a 2-core CPU (see below)
    python -m erc_lib.bench --out results/reference/bench.json   # the reference table (~1 h on CPU)
    python -m erc_lib.bench --device cuda --amp bf16      # the same on a GPU
    python -m erc_lib.bench --models sdt mister_e --sizes paper --threads 1 --scaling   # no scaling table
    python -m erc_lib.bench --sections datasets metrics --merge --out results/reference/bench.json
    python -m erc_lib.bench --models compm_finetune --sections cells --modes fast --threads 1 --epochs 1 \
        --merge --out results/reference/bench.json          # one model's cells into the reference file

``--quick``: every model but ``compm_finetune``, modes ``default`` and ``fast``, 32 training
dialogues (spread over the length distribution), one timed epoch, one thread, the scaling
table at the notebook size only. The full run: every model, mode and size, all training
dialogues (``compm_finetune``: ``--finetune-dialogues``, default 3 = IEMOCAP's shortest, median
and longest training dialogues, 8 / 47 / 94 utterances, with one dev and one test dialogue), two
timed epochs, 1 and all threads. ``compm_finetune`` fine-tunes MiniLM (both encoders, CoMPM's
recipe) with the encoders in gradient-checkpointed chunks
(:attr:`erc_lib.models.compm.CoMPMConfig.chunk_tokens`), so its peak memory stays bounded on a
CPU (without chunks, IEMOCAP's longest dialogue took more than 23 GB of RAM; chunked, 1.8 GB). Busy machines make
every number noisy (the load average is recorded); two threads on a busy 2-core machine are
many times slower than one.

JSON (``--out``, default ``results/bench.json``; keys in :data:`JSON_KEYS`): ``date``,
``device``, ``device_name``, ``torch``, ``python``, ``cpu_count``, ``threads`` (the counts
measured), ``quick``, ``amp``, ``load_average`` (before, after: a busy machine shows here),
``data`` (what was measured on), ``modes`` (TrainConfig overrides of each mode), ``sizes``
(model and train overrides per model and size), ``rows`` (one per model x size x mode x
threads, keys :data:`ROW_KEYS`), ``padding`` (share per batch size and mode), ``speedup``
(epoch seconds of each mode against ``default``), ``scaling`` (seconds per step per length),
``best_threads`` (model -> thread count), ``best_threads_detail``, ``per_dataset`` (epoch
seconds per dataset, model and mode), ``metrics_checks`` (one entry per checked change, model and
dataset), ``steps`` (one row per model, computation and way: seconds per step, warm-up seconds,
speed-up against the padded eager step, matmul share), ``sections`` (section -> date it was measured), ``notes``, ``seconds``.

``--sections`` picks what to measure (:data:`SECTIONS`; default: all, ``--quick``: ``cells``
and ``scaling``); ``--merge`` keeps the other sections of an existing ``--out`` file, so one
section can be re-measured without the hour of the rest. Cells of only some models
(``--models compm_finetune --sections cells --merge``) replace those models' rows and keep the
others' (:func:`merge_reports`).

Modules: :mod:`.sizes` (the two sizes), :mod:`.synthetic` (the data), :mod:`.specs` (the models,
:data:`~.specs.MODELS`), :mod:`.measure` (cells, scaling, per-dataset epochs, metrics checks),
:mod:`.summaries` (speed-ups, best threads, tables), :mod:`.steps` (the per-step table),
:mod:`.run` (the run and merging) and :mod:`.cli` (the command line).
"""
from __future__ import annotations

from .sizes import SIZELESS, SIZES, SizeFn, notebook_size, paper_size
from .synthetic import (BIOS_DIM, FEATURE_DIMS, fixed_length_data, iemocap_shaped, random_bios, sample_dialogues,
                        with_random_features)
from .specs import MODELS, bench_spec
from .measure import (CHANGES, COMPM_MAX_SCALING_LENGTH, DATASET_MODELS, METRICS_CHECKS, MODES, ROW_KEYS, Cell,
                      PeakMemory, mean_padding_share, measure_cell, measure_scaling, metrics_check, modes_of,
                      per_dataset_epochs)
from .summaries import best_threads, print_report, speedups, tables
from .steps import (GEMM_OPS, MATMUL_OPS, STEP_COMPUTATIONS, STEP_DIMS, STEP_MODELS, STEP_WAYS, step_batches,
                    step_comparison, step_model_args, time_steps)
from .run import (JSON_KEYS, QUICK_MODELS, SCALING_LENGTHS, SCALING_MODELS, SECTION_KEYS, SECTIONS, merge_reports,
                  run_benchmark)
from .cli import main
