"""Supervised fine-tuning of one subset: TRL ``SFTTrainer`` with a PEFT LoRA adapter (or full FT).

Rows become *conversational prompt-completion* examples (``prompt`` = the row's messages,
``completion`` = one assistant message), so TRL renders both with the base model's own
chat template and puts the loss on the completion tokens only: prompt tokens get label
-100. SmolLM2's template has no ``{% generation %}`` markers, which is what
``assistant_only_loss`` would need; the prompt-completion form needs none.

Every TRL/transformers default that costs time or changes the result is set on purpose
(:func:`sft_config`): no gradient checkpointing for small models, no mid-run saving or
evaluation, no reporting, no dataloader workers, and no per-step entropy/accuracy metric
(``_LeanSFTTrainer`` computes the plain causal-LM loss).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autosel.evaluation.spec import EvalSpec


@dataclass(frozen=True)
class TrainResult:
    """What one training run did. ``failure_reason`` is set iff training failed."""

    loss_curve: list[tuple[int, float]]
    train_tokens: int
    seconds: float
    steps: int
    failure_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False  # stopped early on request (see stop_callback), not a failure


class TrainingFailed(Exception):
    """Training could not produce a usable model (reason in ``str(exc)``)."""


def resolve_precision(spec: EvalSpec, device: str) -> str:
    """``fp32``/``bf16``/``fp16``; ``auto``: bf16 on CUDA with bf16, else fp16; fp32 on CPU.

    On CPU fp32 is the default because on the 2-core development machine bf16 autocast
    measured slower (see benchmarks/evaluation.py) and fp32 is exactly reproducible.
    """
    if spec.precision != "auto":
        return spec.precision
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def to_examples(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Canonical pool rows → TRL conversational prompt-completion examples."""
    out = []
    for row in rows:
        prompt = [{"role": str(m["role"]), "content": str(m["content"])} for m in row["prompt"]]
        out.append(
            {
                "prompt": prompt,
                "completion": [{"role": "assistant", "content": str(row["response"])}],
            }
        )
    return out


def load_for_training(spec: EvalSpec, device: str) -> tuple[Any, Any]:
    """Base model (LoRA-wrapped for ``method='lora'``) and tokenizer, seeded from ``spec.seed``."""
    import torch
    from transformers import set_seed

    from autosel.base_model import load_model

    precision = resolve_precision(spec, device)
    # Mixed precision keeps fp32 master weights; only bf16 loads bf16 weights directly.
    model, tok = load_model(
        spec.model, device=device, dtype="bf16" if precision == "bf16" else "fp32"
    )
    # LoRA's A matrices are initialised from torch's global RNG: seed it so a spec + subset
    # always gives the same adapter (transformers' Trainer seeds the same RNGs again).
    set_seed(spec.seed)
    if spec.method == "lora":
        from peft import LoraConfig, get_peft_model

        lcfg = LoraConfig(
            task_type="CAUSAL_LM",
            r=spec.lora.r,
            lora_alpha=spec.lora.alpha,  # type: ignore[arg-type]  # peft annotates int; a float alpha works (scaling = alpha / r)
            lora_dropout=spec.lora.dropout,
            target_modules=spec.lora.target_modules
            if isinstance(spec.lora.target_modules, str)
            else list(spec.lora.target_modules),
        )
        model = get_peft_model(model, lcfg)
    model.train()
    model.config.use_cache = False
    torch.manual_seed(spec.seed)
    return model, tok


def sft_config(spec: EvalSpec, out_dir: Path, device: str) -> Any:
    """The ``SFTConfig`` for ``spec``: every speed/behaviour default set deliberately."""
    from trl import SFTConfig

    precision = resolve_precision(spec, device)
    return SFTConfig(
        output_dir=str(out_dir),
        per_device_train_batch_size=spec.batch_size,
        gradient_accumulation_steps=spec.grad_accum,
        num_train_epochs=spec.epochs,
        max_steps=spec.max_steps if spec.max_steps is not None else -1,
        learning_rate=spec.learning_rate,
        lr_scheduler_type=spec.lr_scheduler,
        warmup_steps=spec.warmup_ratio,  # a float in [0, 1) is a ratio of total steps
        weight_decay=spec.weight_decay,
        max_grad_norm=spec.max_grad_norm,
        seed=spec.seed,
        data_seed=spec.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device == "cpu",
        gradient_checkpointing=False,  # TRL turns it on; ~20% slower and unneeded for small models
        max_length=spec.max_seq_len,
        packing=False,  # one sample per row: the subset is exactly what is trained on
        completion_only_loss=True,
        logging_strategy="steps",
        logging_steps=1,  # the loss curve, and divergence detection at every step
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        dataloader_num_workers=0,
        dataloader_pin_memory=device.startswith("cuda"),
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=True,
    )


def _lean_trainer_cls() -> type:
    from transformers import Trainer
    from trl import SFTTrainer

    class _LeanSFTTrainer(SFTTrainer):
        """SFTTrainer whose loss step skips TRL's per-token entropy and accuracy metrics."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs["use_cache"] = False
            return Trainer.compute_loss(
                self,
                model,
                inputs,
                return_outputs=return_outputs,
                num_items_in_batch=num_items_in_batch,
            )

    return _LeanSFTTrainer


def _watchdog(spec: EvalSpec, curve: list[tuple[int, float]], failure: list[str]) -> Any:
    from transformers import TrainerCallback

    class _Watch(TrainerCallback):
        """Records the loss curve and stops at the first sign of divergence."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:
                return
            loss = float(logs["loss"])
            curve.append((int(state.global_step), loss))
            if not math.isfinite(loss):
                failure.append(
                    f"diverged loss: non-finite loss ({loss}) at step {state.global_step}"
                )
            elif loss > spec.divergence_factor * max(curve[0][1], 1e-3) and len(curve) > 1:
                failure.append(
                    f"diverged loss: {loss:.3g} at step {state.global_step} exceeds "
                    f"{spec.divergence_factor}x the first logged loss {curve[0][1]:.3g}"
                )
            if failure:
                control.should_training_stop = True

    return _Watch()


def stop_callback(stop: threading.Event) -> Any:
    """A ``TrainerCallback`` that ends training once ``stop`` is set.

    The worker sets ``stop`` as soon as a heartbeat learns that the job's search was
    cancelled or that its lease was lost: training then ends after the current batch
    (an optimizer step, or one micro-batch under gradient accumulation) instead of
    running to ``max_steps`` for a result nobody will use.
    """
    from transformers import TrainerCallback

    class _StopOnEvent(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if stop.is_set():
                control.should_training_stop = True

        on_substep_end = on_step_end  # the Trainer checks the flag after micro-batches too

    return _StopOnEvent()


def progress_callback(on_progress: Callable[[str, int, int], None]) -> Any:
    """A ``TrainerCallback`` reporting ``("training steps", step, max_steps)`` after each
    optimizer step (the worker sends it out with its next heartbeat)."""
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            on_progress("training steps", 0, max(int(state.max_steps), 1))

        def on_step_end(self, args, state, control, **kwargs):
            total = max(int(state.max_steps), 1)
            on_progress("training steps", min(int(state.global_step), total), total)

    return _Progress()


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error (CUDA, or a CPU allocator failure)."""
    import torch

    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def build_trainer(
    model: Any,
    tok: Any,
    rows: Sequence[dict[str, Any]],
    spec: EvalSpec,
    out_dir: Path,
    device: str,
    callbacks: Sequence[Any] = (),
) -> Any:
    """A ready-to-train lean ``SFTTrainer`` on ``rows`` (tokenises the dataset)."""
    from datasets import Dataset

    dataset = Dataset.from_list(to_examples(rows))
    from transformers import PrinterCallback

    cls = _lean_trainer_cls()
    trainer = cls(
        model=model,
        args=sft_config(spec, out_dir, device),
        train_dataset=dataset,
        processing_class=tok,
        callbacks=list(callbacks),
    )
    trainer.remove_callback(PrinterCallback)  # the loss curve goes into the result, not stdout
    return trainer


def train(
    model: Any,
    tok: Any,
    rows: Sequence[dict[str, Any]],
    spec: EvalSpec,
    out_dir: Path,
    device: str,
    stop: threading.Event | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    """Fine-tune ``model`` in place on ``rows``; failures come back as ``failure_reason``.

    Failure reasons: ``"empty subset"``, ``"out of memory: ..."``, ``"diverged loss: ..."``.
    When ``stop`` is set, training ends after the current step and ``cancelled`` is True.
    ``on_progress(unit, done, total)`` hears of every optimizer step.
    """
    if not rows:
        return TrainResult([], 0, 0.0, 0, failure_reason="empty subset")
    curve: list[tuple[int, float]] = []
    failure: list[str] = []
    callbacks = [_watchdog(spec, curve, failure)]
    if stop is not None:
        callbacks.append(stop_callback(stop))
    if on_progress is not None:
        callbacks.append(progress_callback(on_progress))
    trainer = build_trainer(model, tok, rows, spec, out_dir, device, callbacks)
    t0 = time.perf_counter()
    try:
        trainer.train()
    except Exception as exc:
        if not is_oom(exc):
            raise
        failure.append(f"out of memory: {str(exc).splitlines()[0][:200]}")
    seconds = time.perf_counter() - t0
    model.eval()
    return TrainResult(
        curve,
        int(trainer.state.num_input_tokens_seen),
        seconds,
        int(trainer.state.global_step),
        failure[0] if failure else None,
        cancelled=not failure and stop is not None and stop.is_set(),
    )
