"""Train the grounding (NLI) cross-encoder from all-MiniLM-L6-v2 on HaluEval + synthetic hard negatives.

Training environment only (torch, transformers; see docs/models.md). Seeded and deterministic on CPU:

    python -m guardrail_models.train_nli --seed 13 --out ~/.cache/guardrail-train/build

Data: qa, summarization and dialogue rows 0-7999 (never the reserved dialogue rows 8000-9999), a seeded dev
split per task held out, and a calibration split per task (never trained on) for the fusion layer. Each training
group is one evidence with its right answer and negatives that carry no length signal: the hallucinated answer
only when its length is close, one synthetic negative made from the right answer (entity swap, number swap,
negation), and the right answer against unrelated evidence: another row's evidence, or (a third of the time) a
short system prompt such as "You are the Acme Corporation support bot." (HaluEval never pairs a claim with
unrelated evidence; without these the model scores fluent answers as supported by anything, and a guardrail
whose retrieval finds nothing passes them). Half the groups (`quoted_share`) also rank a quoted pair: a verbatim
sentence of the evidence joined to the right answer above the same sentence joined the same way to a fabrication
(the hallucinated answer when its length is close, else the synthetic negative), so a true quote next to, or
merged into one sentence with, a fabrication does not lift it (the quote attack in docs/models.md). Loss = BCE per
pair + a pairwise term (right above each negative of its ranking unit). The head learns at a higher rate than the
encoder.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch  # type: ignore[import-not-found, unused-ignore]  # training venv only
from transformers import AutoModel, AutoTokenizer  # type: ignore[import-not-found, unused-ignore]

from guardrail_models.claim_pairs import claim_pairs
from guardrail_models.grounding_eval import evaluate_items, pair_rows
from guardrail_models.halueval import (
    TASKS,
    Item,
    length_matched,
    quoted_pair,
    read_rows,
    split,
    synthetic_negative,
    system_prompt_evidence,
)
from guardrail_models.nli_release import EXPORTED_FUSION, release
from guardrail_models.torch_export import base_model_path

TRAIN_LENGTH_TOLERANCE = 0.3


@dataclass(frozen=True)
class Group:
    """One claim supported by `evidence`, the claims it does not support, and unrelated evidence for the claim."""

    evidence: str
    positive: str
    negatives: tuple[str, ...]
    foreign: tuple[str, ...] = ()
    quoted: tuple[str, str] | None = None  # (quote + right answer, the same quote + a fabrication)

    def pairs(self) -> list[tuple[str, str]]:
        """(evidence, claim) rows, the positive first."""
        own = [(self.evidence, claim) for claim in (self.positive, *self.negatives)]
        return own + [(evidence, self.positive) for evidence in self.foreign]

    def subgroups(self) -> list[list[tuple[str, str]]]:
        """Rows per ranking unit, each positive first: `pairs()`, then the quoted pair if there is one."""
        quoted = [[(self.evidence, claim) for claim in self.quoted]] if self.quoted else []
        return [self.pairs(), *quoted]


@dataclass(frozen=True)
class Config:
    seed: int = 13
    layers: int = 4
    steps: int = 4000
    groups_per_step: int = 4
    max_length: int = 256
    encoder_lr: float = 5e-5
    head_lr: float = 2e-3
    pairwise_weight: float = 1.0
    dev_rows: int = 600
    pooling: str = "pair"
    summarization_items: int = 2000  # of ~9,000; 3,000 cost qa (measured in docs/models.md)
    calibration_items: int = 400  # per task, held out of training for the fusion layer
    foreign_evidence: int = 1  # negatives per group: the right answer against unrelated evidence
    quoted_share: float = 0.5  # share of groups that also rank quote + right answer above quote + fabrication
    fusion: str = "all"  # features of the exported score: "encoder" (calibrated logit) or "all" (+ lexical)
    stop_after: int = 0  # 0: all `steps`; N: stop at step N of the same schedule (shorter, reproducible)
    init: str = ""  # start from these weights (a `nli.pt` of an earlier run) instead of all-MiniLM-L6-v2
    claim_share: float = 0.0  # claim-level groups (`claim_pairs`, summarization) added, as a share of the groups

    def __post_init__(self) -> None:  # fail at the command line, not after the training run
        if self.fusion not in EXPORTED_FUSION:
            raise ValueError(f"fusion must be one of {sorted(EXPORTED_FUSION)}, not {self.fusion!r}")
        if self.pooling not in ("mean", "pair"):
            raise ValueError(f"pooling must be 'mean' or 'pair', not {self.pooling!r}")


@dataclass(frozen=True)
class Splits:
    train: list[Item]
    calibration: list[Item]
    dev: dict[str, list[Item]]
    claim_pool: list[Item]  # every training row of summarization (not only `summarization_items`): claim groups


def load_splits(config: Config) -> Splits:
    """Per task: a seeded dev split, then `calibration_items` held out of the rest, the remainder to train on."""
    train: list[Item] = []
    calibration: list[Item] = []
    dev: dict[str, list[Item]] = {}
    claim_pool: list[Item] = []
    for index, task in enumerate(TASKS):
        task_train, task_dev = split(list(read_rows(task)), config.dev_rows, config.seed + index)
        held, task_train = task_train[: config.calibration_items], task_train[config.calibration_items :]
        train += task_train[: config.summarization_items] if task == "summarization" else task_train
        claim_pool += task_train if task == "summarization" else []
        calibration += held
        dev[task] = task_dev
    return Splits(train, calibration, dev, claim_pool)


def foreign_evidence(item: Item, pool: list[Item], rng: random.Random) -> str:
    """Evidence that does not support the item's right answer (seeded): a third of the time a short system prompt,
    otherwise the evidence of another row of `pool` whose text differs from the item's."""
    if rng.random() < 1 / 3:
        return system_prompt_evidence(item.claim(item.right), rng)
    while True:
        other = pool[rng.randrange(len(pool))]
        if other.evidence != item.evidence:
            return other.evidence


def quoted_for(item: Item, fabricated: str | None, rng: random.Random, share: float) -> tuple[str, str] | None:
    """With probability `share`, a quoted pair for `item` (`halueval.quoted_pair`) around `fabricated`."""
    if fabricated is None or rng.random() >= share:
        return None
    return quoted_pair(item, fabricated, rng)


def make_groups(items: list[Item], seed: int, foreign: int = 1, quoted_share: float = 0.0) -> list[Group]:
    """Training groups in a seeded order; items without any length-neutral negative are dropped.

    Foreign evidence comes from the same task, so a group's rows stay of similar length (little padding). The
    quoted pairs draw from their own seeded generator, so `quoted_share` 0 gives the groups of earlier releases.
    """
    rng = random.Random(seed)  # noqa: S311 - seeded data order, not security
    quoting = random.Random(seed + 7)  # noqa: S311 - seeded data, not security
    by_task = {task: [i for i in items if i.task == task] for task in TASKS}
    groups = []
    for item in items:
        negatives = []
        matched = length_matched(item.right, item.hallucinated, TRAIN_LENGTH_TOLERANCE)
        if matched:
            negatives.append(item.claim(item.hallucinated))
        synthetic = synthetic_negative(item, rng)
        if synthetic is not None:
            negatives.append(item.claim(synthetic))
        if negatives:
            others = tuple(foreign_evidence(item, by_task[item.task], rng) for _ in range(foreign))
            fabricated = item.hallucinated if matched else synthetic
            quoted = quoted_for(item, fabricated, quoting, quoted_share)
            groups.append(Group(item.evidence, item.claim(item.right), tuple(negatives), others, quoted))
    rng.shuffle(groups)
    return groups


class CrossEncoder(torch.nn.Module):  # type: ignore[misc]  # torch is untyped here
    """MiniLM encoder (first `layers` layers) over "[CLS] evidence [SEP] claim [SEP]" → pooled features → logit.

    pooling "mean": masked mean of all tokens. pooling "pair": the claim's mean c and the evidence's mean e,
    combined as [c, e, c*e, |c-e|] so the head starts from a comparison rather than a blur of both.
    """

    def __init__(self, layers: int, pooling: str = "pair") -> None:
        super().__init__()
        self.pooling = pooling
        self.encoder = AutoModel.from_pretrained(str(base_model_path()), num_hidden_layers=layers)
        width = self.encoder.config.hidden_size * (4 if pooling == "pair" else 1)
        self.head = torch.nn.Linear(width, 1)
        torch.nn.init.normal_(self.head.weight, std=0.02)
        torch.nn.init.zeros_(self.head.bias)

    @staticmethod
    def _mean(hidden: Any, mask: Any) -> Any:
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        if self.pooling != "pair":
            return self.head(self._mean(hidden, attention_mask)).squeeze(-1)
        claim = self._mean(hidden, attention_mask * token_type_ids)
        evidence = self._mean(hidden, attention_mask * (1 - token_type_ids))
        features = torch.cat([claim, evidence, claim * evidence, (claim - evidence).abs()], dim=-1)
        return self.head(features).squeeze(-1)


def group_loss(logits: Any, sizes: list[int], pairwise_weight: float) -> Any:
    """BCE over every pair (the first of each group is the positive) + softplus(neg - pos) per group."""
    labels, pairwise, start = [], [], 0
    for size in sizes:
        labels += [1.0] + [0.0] * (size - 1)
        pairwise.append(torch.nn.functional.softplus(logits[start + 1 : start + size] - logits[start]))
        start += size
    target = torch.tensor(labels, dtype=logits.dtype)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    return bce + pairwise_weight * torch.cat(pairwise).mean()


def torch_scores(model: CrossEncoder, tokenizer: Any, items: list[Item], max_length: int) -> np.ndarray:
    """Logits for `pair_rows(items)` (right, hallucinated per item), in eval mode, batch 16."""
    rows = pair_rows(items)
    out = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), 16):
            chunk = rows[start : start + 16]
            encoded = tokenizer(
                [r["premise"] for r in chunk],
                [r["claim"] for r in chunk],
                truncation="longest_first",
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            out.append(model(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"]).numpy())
    model.train()
    return np.concatenate(out)


def claim_groups(items: list[Item], seed: int, count: int) -> list[Group]:
    """Up to `count` claim-level groups (one sentence against its best passage, `claim_pairs`) from the
    summarization items, seeded."""
    rng = random.Random(seed + 11)  # noqa: S311 - seeded data, not security
    pool = [item for item in items if item.task == "summarization"]
    rng.shuffle(pool)
    groups: list[Group] = []
    for item in pool:
        if len(groups) >= count:
            break
        made = claim_pairs(item, rng)
        if made is not None:
            groups.append(Group(made[0], made[1], made[2]))
    return groups


def make_batches(groups: list[Group], groups_per_step: int, seed: int, window: int = 64) -> list[list[Group]]:
    """Batches of similar evidence length (little padding), in a seeded order; the groups are already shuffled."""
    batches = []
    for start in range(0, len(groups), window):
        chunk = sorted(groups[start : start + window], key=lambda g: len(g.evidence) + len(g.positive))
        batches += [chunk[i : i + groups_per_step] for i in range(0, len(chunk), groups_per_step)]
    random.Random(seed).shuffle(batches)  # noqa: S311 - seeded batch order, not security
    return batches


def train(
    config: Config,
    groups: list[Group],
    monitor: list[Item] | None = None,
    checkpoint: Path | None = None,
    log_every: int = 50,
) -> CrossEncoder:
    torch.manual_seed(config.seed)
    model = CrossEncoder(config.layers, config.pooling)
    if config.init:
        model.load_state_dict(torch.load(config.init))
    model.train()
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_path()))
    optimizer = torch.optim.AdamW(
        [
            {"params": model.encoder.parameters(), "lr": config.encoder_lr},
            {"params": model.head.parameters(), "lr": config.head_lr},
        ],
        weight_decay=0.01,
    )
    warmup = max(1, config.steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (config.steps - step) / (config.steps - warmup))),
    )
    batches = make_batches(groups, config.groups_per_step, config.seed)
    started, running = time.monotonic(), 0.0
    for step in range(config.stop_after or config.steps):
        batch = batches[step % len(batches)]
        grouped = [rows for g in batch for rows in g.subgroups()]
        rows = [row for pairs in grouped for row in pairs]
        encoded = tokenizer(
            [evidence for evidence, _ in rows],
            [claim for _, claim in rows],
            truncation="longest_first",
            max_length=config.max_length,
            padding=True,
            return_tensors="pt",
        )
        logits = model(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
        loss = group_loss(logits, [len(pairs) for pairs in grouped], config.pairwise_weight)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        running += float(loss.detach())
        if (step + 1) % log_every == 0:
            rate = (step + 1) / (time.monotonic() - started)
            print(
                f"step {step + 1}/{config.steps} loss {running / log_every:.4f} ({rate:.2f} steps/s)",
                flush=True,
            )
            running = 0.0
        if checkpoint is not None and (step + 1) % (log_every * 2) == 0:
            torch.save(model.state_dict(), checkpoint)
            facts = {"step": step + 1, "seconds": time.monotonic() - started, **asdict(config)}
            checkpoint.with_suffix(".json").write_text(json.dumps(facts))
        if monitor and (step + 1) % (log_every * 5) == 0:
            metrics = evaluate_items(monitor, torch_scores(model, tokenizer, monitor, config.max_length), None)
            print(f"  dev dialogue (monitor): {json.dumps(metrics)}", flush=True)
    model.eval()
    return model


def calibration_pairs(items: list[Item], seed: int, quoted_share: float = 0.0) -> list[tuple[str, str, int]]:
    """(evidence, claim, label) for fitting the fusion layer, from the held-out calibration split: the right answer
    (1); the hallucinated one when its length is close (0: no length signal); the right answer against another
    calibration row's evidence (0); with probability `quoted_share`, a quoted pair (1 and 0), so the lexical
    features are not fitted to reward a quote."""
    rng = random.Random(seed + 1)  # noqa: S311 - seeded pairing, not security
    quoting = random.Random(seed + 8)  # noqa: S311 - seeded pairing, not security
    pairs: list[tuple[str, str, int]] = []
    for task in TASKS:
        pool = [i for i in items if i.task == task]
        for item in pool:
            pairs.append((item.evidence, item.claim(item.right), 1))
            matched = length_matched(item.right, item.hallucinated)
            if matched:
                pairs.append((item.evidence, item.claim(item.hallucinated), 0))
            pairs.append((foreign_evidence(item, pool, rng), item.claim(item.right), 0))
            quoted = quoted_for(item, item.hallucinated if matched else None, quoting, quoted_share)
            if quoted is not None:
                pairs += [(item.evidence, quoted[0], 1), (item.evidence, quoted[1], 0)]
    return pairs


def parse_args() -> tuple[Config, Path, Path | None, bool, bool]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Config()
    for name, value in vars(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "guardrail-train" / "build")
    parser.add_argument("--repository", type=Path, default=None, help="write the INT8 model here (default: models/)")
    parser.add_argument("--release-only", action="store_true", help="reuse OUT/nli.pt instead of training")
    parser.add_argument("--no-release", action="store_true", help="train and save OUT/nli.pt only (determinism checks)")
    args = vars(parser.parse_args())
    out, repository, release_only = args.pop("out"), args.pop("repository"), args.pop("release_only")
    no_release = args.pop("no_release")
    return Config(**args), out, repository, release_only, no_release


def main() -> None:
    config, out, repository, release_only, no_release = parse_args()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    random.seed(config.seed)
    np.random.seed(config.seed)
    splits = load_splits(config)
    dev = splits.dev
    groups = make_groups(splits.train, config.seed, config.foreign_evidence, config.quoted_share)
    if config.claim_share > 0:
        groups += claim_groups(splits.claim_pool, config.seed, int(config.claim_share * len(groups)))
        random.Random(config.seed + 12).shuffle(groups)  # noqa: S311 - seeded data order, not security
    print(
        f"{len(splits.train)} training items → {len(groups)} groups; calibration {len(splits.calibration)}; "
        f"dev {[len(v) for v in dev.values()]}",
        flush=True,
    )
    checkpoint = out / "nli.pt"
    if release_only:
        facts = out / "nli_train.json"
        if not checkpoint.exists():  # an interrupted run: release its last checkpoint, saying where it stopped
            checkpoint, facts = out / "nli.partial.pt", out / "nli.partial.json"
            config = replace(config, stop_after=json.loads(facts.read_text())["step"])
        seconds = json.loads(facts.read_text())["seconds"]
        model = CrossEncoder(config.layers, config.pooling)
        model.load_state_dict(torch.load(checkpoint))
        model.eval()
    else:
        started = time.monotonic()
        out.mkdir(parents=True, exist_ok=True)
        model = train(config, groups, monitor=dev["dialogue"][:150], checkpoint=out / "nli.partial.pt")
        seconds = time.monotonic() - started
        torch.save(model.state_dict(), checkpoint)
        (out / "nli_train.json").write_text(json.dumps({"seconds": seconds, **asdict(config)}))
    if no_release:
        return
    report = release(
        model,
        config,
        dev,
        calibration_pairs(splits.calibration, config.seed, config.quoted_share),
        out,
        repository,
        train_seconds=seconds,
        groups=len(groups),
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
