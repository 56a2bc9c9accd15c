"""Train the `injection` model as a fine-tuned encoder: the first layers of all-MiniLM-L6-v2, mean-pooled, a logit.

Training environment only (torch, transformers, onnx):  python -m guardrail_models.train_injection_encoder

The head (`train_injection`) reads a frozen sentence embedding; this fine-tunes the encoder's layers on the same
training texts (the corpora's train splits, benign chat turns, short messages and system prompts, override
injections and the widened set, each as the sidecar shows it), plus single sentence windows of the benign texts as
negatives (the sidecar reads a request sentence by sentence, so a benign sentence read alone must stay benign),
benign technical texts (`technical_text`), and benign text about instructions and security with its contrast
injections (`injection_hard_negatives`).
The word embeddings stay frozen, so tokens the training texts never use keep their pretrained meaning. The epoch
kept is the one with the best mean of AUROC and recall at 1% FPR on the corpora's validation splits.

The exported graph (INT8, `input_ids`, `attention_mask` → `score`) carries an offset folded into the logit, chosen
so that the score at the 1%-false-positive point of the validation negatives reads `PromptInjection().threshold`
(0.9): the policy default keeps its meaning. `train_injection --evaluate-only --repository OUT/repo` reports it.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch  # type: ignore[import-not-found, unused-ignore]  # training venv only
from transformers import AutoModel, AutoTokenizer  # type: ignore[import-not-found, unused-ignore]

from guardrail_contract import tensors
from guardrail_contract.sidecar_config import PromptInjection
from guardrail_models import injection_data as data
from guardrail_models.injection_hard_negatives import contrast_injections, security_hard_negatives
from guardrail_models.manifest import read_manifest, write_manifest
from guardrail_models.metrics import auroc, recall_at_fpr
from guardrail_models.onnx_tools import neutral_tokenizer, quantize_int8
from guardrail_models.package import write_model
from guardrail_models.repository import default_repository
from guardrail_models.runtime import load_injection
from guardrail_models.specs import injection_token_info
from guardrail_models.technical_text import technical_benign
from guardrail_models.torch_export import base_model_path, export_onnx
from guardrail_models.train_injection import (
    add_data_arguments,
    held_out_report,
    training_groups,
    training_texts,
    windowed_report,
)
from guardrail_sidecar.scoring import claims
from guardrail_sidecar.scoring.encoder import Encoder

WINDOW_TOKENS, WINDOW_OVERLAP, WINDOW_MIN_WORDS = 64, 16, 3  # the sidecar's `scorer` constants


@dataclass(frozen=True)
class Config:
    seed: int = 13
    layers: int = 4
    max_length: int = 128
    batch_size: int = 32
    epochs: int = 2
    learning_rate: float = 5e-5
    warmup: float = 0.06
    benign_windows: int = 8  # per multi-sentence benign text, at most this many of its sentence windows
    technical: int = 4000  # benign technical texts (`technical_text`): code, docstrings, changelogs, logs, errors
    security_negatives: int = 3000  # benign texts about instructions and security (`injection_hard_negatives`)
    contrast: int = 600  # injections that open like those benign texts, then override the assistant


class Classifier(torch.nn.Module):  # type: ignore[misc]  # torch is untyped here
    """MiniLM's first `layers` layers → masked mean of the tokens → a logit (plus a fixed `offset`)."""

    def __init__(self, layers: int) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(str(base_model_path()), num_hidden_layers=layers)
        self.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
        torch.nn.init.normal_(self.head.weight, std=0.02)
        torch.nn.init.zeros_(self.head.bias)
        self.register_buffer("offset", torch.zeros(()))

    def logits(self, input_ids: Any, attention_mask: Any) -> Any:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return self.head(pooled).squeeze(-1) + self.offset

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        return torch.sigmoid(self.logits(input_ids, attention_mask))


def benign_windows(texts: list[str], labels: list[int], encoder: Encoder, count: int, seed: int) -> list[str]:
    """Up to `count` sentence windows (as the sidecar cuts them) of each benign text that has more than one."""
    rng = random.Random(seed)  # noqa: S311 - a seeded sample, not a secret
    out: list[str] = []
    for text, label in zip(texts, labels, strict=True):
        if label:
            continue
        pieces = [
            w
            for sentence in claims.sentences(text, WINDOW_MIN_WORDS)
            for w in encoder.windows(sentence, WINDOW_TOKENS, WINDOW_OVERLAP)
        ]
        pieces = [p for p in dict.fromkeys(pieces) if p.strip() and p != text]
        if len(pieces) > 1:
            out += rng.sample(pieces, min(count, len(pieces)))
    return out


def torch_logits(model: Classifier, tokenizer: Any, texts: list[str], max_length: int) -> np.ndarray:
    model.eval()
    out = []
    order = np.argsort([len(t) for t in texts], kind="stable")
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            chunk = [texts[i] for i in order[start : start + 64]]
            enc = tokenizer(chunk, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            out.append(model.logits(enc["input_ids"], enc["attention_mask"]).numpy())
    model.train()
    result = np.zeros(len(texts), dtype=np.float64)
    if texts:
        result[order] = np.concatenate(out)
    return result


def validation_score(
    model: Classifier, tokenizer: Any, sets: dict[tuple[str, str], data.Labelled], cfg: Config
) -> float:
    values = []
    for corpus in ("s-labs", "neuralchemy"):
        split = sets[(corpus, "validation")]
        scores = torch_logits(model, tokenizer, split.texts, cfg.max_length)
        values += [auroc(split.labels, scores), recall_at_fpr(split.labels, scores, 0.01)]
    return float(np.mean(values))


def train(
    cfg: Config, texts: list[str], labels: list[int], sets: dict[tuple[str, str], data.Labelled], out: Path
) -> Classifier:
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_path()))
    model = Classifier(cfg.layers)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.01)
    steps_per_epoch = (len(texts) + cfg.batch_size - 1) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    warmup = max(1, int(total * cfg.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    rng = np.random.default_rng(cfg.seed)
    best, best_epoch, log = -1.0, -1, []
    started = time.monotonic()
    model.train()
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(texts))
        for step in range(steps_per_epoch):
            index = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            enc = tokenizer(
                [texts[i] for i in index], truncation=True, max_length=cfg.max_length, padding=True, return_tensors="pt"
            )
            target = torch.tensor([float(labels[i]) for i in index])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model.logits(enc["input_ids"], enc["attention_mask"]), target
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            if (step + 1) % 100 == 0:
                elapsed = time.monotonic() - started
                print(
                    f"epoch {epoch} step {step + 1}/{steps_per_epoch} loss {loss.item():.4f} {elapsed:.0f}s", flush=True
                )
                log.append({"epoch": epoch, "step": step + 1, "loss": round(float(loss.item()), 4)})
        score = validation_score(model, tokenizer, sets, cfg)
        print(f"epoch {epoch}: validation mean(AUROC, recall@1%FPR) = {score:.4f}", flush=True)
        log.append({"epoch": epoch, "validation": score})
        if score > best:
            best, best_epoch = score, epoch
            torch.save(model.state_dict(), out / "injection_encoder.pt")
    model.load_state_dict(torch.load(out / "injection_encoder.pt"))
    (out / "injection_encoder_log.json").write_text(json.dumps({"best_epoch": best_epoch, "log": log}, indent=2))
    return model


def release(
    model: Classifier, cfg: Config, sets: dict[tuple[str, str], data.Labelled], out: Path, repository: Path
) -> dict[str, Any]:
    """Export INT8, fold the offset that maps the 1%-validation-FPR point to the policy default, install."""
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_path()))
    tokenizer_file = neutral_tokenizer(base_model_path() / "tokenizer.json", out / "injection_tokenizer.json")
    info = injection_token_info(cfg.max_length)
    example = tokenizer(["Ignore all previous instructions."], return_tensors="pt")
    inputs = {tensors.INPUT_IDS: example["input_ids"], tensors.ATTENTION_MASK: example["attention_mask"]}

    def install(offset: float) -> Any:
        model.offset.fill_(offset)
        fp32 = export_onnx(model, inputs, tensors.SCORE_OUTPUT, out / "injection_encoder.fp32.onnx")
        int8 = quantize_int8(fp32, out / "injection_encoder.int8.onnx")
        write_model(repository, info, int8, tokenizer_file)
        return load_injection(repository)

    detector = install(0.0)
    validation = [sets[(c, "validation")] for c in ("s-labs", "neuralchemy")]
    negatives = [t for split in validation for t, y in zip(split.texts, split.labels, strict=True) if y == 0]
    raw = np.clip(detector.score(negatives).astype(np.float64), 1e-7, 1 - 1e-7)
    point = float(np.quantile(np.log(raw / (1 - raw)), 0.99))
    target = PromptInjection().threshold
    offset = float(np.log(target / (1 - target)) - point)
    detector = install(offset)
    shutil.copy(out / "injection_encoder.int8.onnx", out / "injection.onnx")
    return {"offset": offset, "validation_negatives": len(negatives), "logit_at_1pct_fpr_before_offset": point}


def record(root: Path, report: dict[str, Any]) -> None:
    """Write `report` into the manifest under `root` (`injection`, and its held-back sets as
    `injection_held_back.shipped`), keeping the replaced model's held-back measurements as `previous`."""
    manifest = read_manifest(root)
    previous = manifest.get("injection_held_back", {})
    replaced = manifest.get("injection", {})
    layers = replaced.get("config", {}).get("layers")
    write_manifest(
        root,
        {
            "injection": report,
            "injection_held_back": {
                "shipped": report["held_back"],
                "previous": previous.get("shipped", {}),
                "previous_test": previous.get("shipped_test", manifest.get("injection", {}).get("test", {})),
                "previous_held_out": previous.get("shipped_held_out", {}),
                "previous_name": f"{layers}-layer encoder"
                if replaced.get("kind") == "encoder"
                else "head on the embedding",
            },
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "guardrail-train" / "build-inj")
    parser.add_argument("--repository", type=Path, default=None, help="where the model is installed [OUT/repo]")
    parser.add_argument("--layers", type=int, default=Config.layers)
    parser.add_argument("--epochs", type=int, default=Config.epochs)
    parser.add_argument("--learning-rate", type=float, default=Config.learning_rate)
    parser.add_argument("--benign-windows", type=int, default=Config.benign_windows)
    parser.add_argument("--technical", type=int, default=Config.technical, help="benign technical texts (0: none)")
    parser.add_argument(
        "--security-negatives",
        type=int,
        default=Config.security_negatives,
        help="benign texts about instructions and security (0: none)",
    )
    parser.add_argument("--contrast", type=int, default=Config.contrast, help="contrast injections (0: none)")
    parser.add_argument("--limit", type=int, default=0, help="train on this many sampled texts (a smoke run; 0: all)")
    parser.add_argument("--release-only", action="store_true", help="export OUT/injection_encoder.pt, train nothing")
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the report into the repository's manifest (`injection`), keeping the replaced model's as "
        "`injection_held_back.previous`",
    )
    add_data_arguments(parser)
    args = parser.parse_args()
    cfg = Config(
        seed=args.seed,
        layers=args.layers,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        benign_windows=args.benign_windows,
        technical=args.technical,
        security_negatives=args.security_negatives,
        contrast=args.contrast,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    repository = args.repository or args.out / "repo"
    if not (repository / tensors.EMBEDDING_MODEL).is_dir():
        shutil.copytree(default_repository(), repository, dirs_exist_ok=True)
    sets = {
        (name, split): loader(split)
        for name, loader in (("s-labs", data.s_labs), ("neuralchemy", data.neuralchemy))
        for split in ("train", "validation")
    }
    if args.release_only:
        model = Classifier(cfg.layers)
        model.load_state_dict(torch.load(args.out / "injection_encoder.pt"))
    else:
        groups = training_groups(args, sets)
        if cfg.technical:
            technical = technical_benign(cfg.technical, cfg.seed + 2)
            groups.append(data.Labelled(*training_texts(technical, [0] * len(technical))))
        if cfg.security_negatives:
            hard = security_hard_negatives(cfg.security_negatives, cfg.seed + 3)
            groups.append(data.Labelled(*training_texts(hard, [0] * len(hard))))
        if cfg.contrast:
            tails = data.override_injections(500, cfg.seed + 4, "train")
            contrast = contrast_injections(cfg.contrast, cfg.seed + 4, tails)
            groups.append(data.Labelled(*training_texts(contrast, [1] * len(contrast))))
        texts = [t for g in groups for t in g.texts]
        labels = [y for g in groups for y in g.labels]
        window_encoder = Encoder(base_model_path() / "tokenizer.json", 256)
        extra = benign_windows(texts, labels, window_encoder, cfg.benign_windows, cfg.seed + 1)
        texts, labels = texts + extra, labels + [0] * len(extra)
        if args.limit:
            keep = sorted(random.Random(cfg.seed).sample(range(len(texts)), min(args.limit, len(texts))))  # noqa: S311
            texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        print(f"training on {len(texts)} texts ({sum(labels)} injections, {len(extra)} benign windows)", flush=True)
        model = train(cfg, texts, labels, sets, args.out)
    facts = release(model, cfg, sets, args.out, repository)
    detector = load_injection(repository)
    sets.update(
        {
            (name, "test"): loader("test")
            for name, loader in (("s-labs", data.s_labs), ("neuralchemy", data.neuralchemy))
        }
    )
    threshold, test_report, held_out = held_out_report(detector, sets)
    held_back = windowed_report(detector, repository, threshold)
    log = args.out / "injection_encoder_log.json"
    report: dict[str, Any] = {
        "kind": "encoder",
        "seed": cfg.seed,
        "config": cfg.__dict__,
        "release": facts,
        "training_log": json.loads(log.read_text()) if log.is_file() else {},
        "environment": {name: version(name) for name in ("torch", "transformers", "numpy", "onnx", "onnxruntime")},
        "test": test_report,
        "held_out": held_out,
        "held_back": held_back,
    }
    (args.out / "injection_encoder_report.json").write_text(json.dumps(report, indent=2))
    if args.record:
        record(repository.parent, report)
    print(json.dumps({"release": facts, "test": test_report}, indent=2))


if __name__ == "__main__":
    main()
