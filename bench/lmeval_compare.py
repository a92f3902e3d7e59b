"""Benchmark: llm-tui against lm-evaluation-harness itself, for fidelity (same numbers) and speed.

lm-eval (0.4.13, with torch 2.13.0 CPU) is installed into a throw-away virtual environment of its own
(default ``.bench-venv/lmeval`` under the repository; ``--venv PATH`` reuses one). It is never a dependency of
llm-tui and the project never imports it: this script only runs its command line.

Fidelity. For each case, the documents are read from llm-tui's offline data (``core.tasks``), written out in
the Hugging Face dataset's schema, and handed to lm-eval through a generated task YAML that ``include``s
lm-eval's own task YAML (from the bench venv's lm_eval package) and overrides only where the dataset lives.
Prompts, delimiters, few-shot exemplars and metrics are therefore lm-eval's own. Both tools then run the same
documents with the same model (SmolLM2-135M-Instruct, the float32 folder llm-tui converted) in float32 on CPU:

    arc        arc_challenge, the whole test split (1,172 documents), 0-shot
    hellaswag  hellaswag, the validation split's first 400 documents (file order), 0-shot
    mmlu5      mmlu_astronomy, 5-shot: the test split, exemplars from the dev split (lm-eval's first_n sampler)

and per document the script checks: the same prediction (argmax of the choices' log-likelihoods, and of
lm-eval's length-normalised acc_norm where the task has it), the largest absolute difference between the two
tools' per-choice log-likelihoods (must be <= 1e-3), and the prompts: lm-eval's request arguments (context,
continuation) against the request llm-tui builds for the document (``task.build(doc, shots)``, as
``core/evaluate.py`` does), character for character. Any difference fails the run (exit code 1).

Speed. ARC-Challenge's test split, each tool's whole command timed from process start to exit, one after the
other: lm-eval with ``--batch_size`` 16 (``--lmeval-batch-size``), and with its default batch size (1) when
``--lmeval-default-bs`` is given; llm-tui with its own default batch size. Same dtype for both (``--dtype``).
When the ARC fidelity case ran in the same invocation with the same settings (float32), its two timed commands
are the speed figures (lm-eval's then has --log_samples on); ``--fresh-speed`` times both again anyway. For
clean timings run the speed part alone (``--cases none``) on an otherwise idle machine.

    .venv/bin/python bench/lmeval_compare.py                      # everything (tens of minutes on 2 cores)
    .venv/bin/python bench/lmeval_compare.py --limit 20           # a quick try
    .venv/bin/python bench/lmeval_compare.py --venv /tmp/lmeval-venv --cases arc,mmlu5 --skip-speed
    .venv/bin/python bench/lmeval_compare.py --cases none --lmeval-default-bs   # speed only (add --dtype bfloat16)
    ... --json report.json                                        # the report as JSON too

The offline data and model come from llm-tui's asset cache (``--cache-dir``, else $LLM_TUI_CACHE); both tools
run with the Hugging Face hub switched off (HF_HUB_OFFLINE, HF_DATASETS_OFFLINE).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LMEVAL_VERSION = "0.4.13"
TORCH_VERSION = "2.13.0"
DEFAULT_VENV = REPO / ".bench-venv" / "lmeval"
MODEL_ALIAS = "smollm2-135m-instruct"
TOLERANCE = 1e-3  # largest allowed |loglik(lm-eval) - loglik(llm-tui)| for any choice of any document
SPEED_CASE = "arc"


@dataclass(frozen=True)
class Case:
    key: str  # the --cases name
    task: str  # llm-tui's task
    include: str  # lm-eval's task YAML, relative to lm_eval/tasks/
    split: str  # the split lm-eval evaluates (the name of the exported file)
    subset: str | None = None  # llm-tui's subset (MMLU subject); None: the task's only one
    shots: int = 0
    docs: int | None = None  # how many documents (from the start), None: all
    fewshot_split: str | None = None  # lm-eval's fewshot_split, exported from llm-tui's few-shot pool

    @property
    def lm_task(self) -> str:
        return f"{self.key}_llmtui"


CASES = {
    "arc": Case("arc", "arc_challenge", "arc/arc_challenge.yaml", "test"),
    "hellaswag": Case("hellaswag", "hellaswag", "hellaswag/hellaswag.yaml", "validation", docs=400),
    "mmlu5": Case(
        "mmlu5", "mmlu", "mmlu/default/mmlu_astronomy.yaml", "test", subset="astronomy", shots=5, fewshot_split="dev"
    ),
}


# -- the bench venv -------------------------------------------------------------------------------------------------
def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def venv_versions(python: Path) -> dict[str, str | None]:
    """Versions of the packages that matter inside a venv (None: not installed)."""
    code = (
        "import importlib.metadata as m, json, platform\n"
        "out = {'python': platform.python_version()}\n"
        "for n in ('torch', 'transformers', 'lm_eval', 'datasets', 'accelerate'):\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args], text=True)


def check_cpu_torch(python: Path) -> str:
    """Refuse, before anything is downloaded, a torch==2.13.0 that pip would take as a CUDA build."""
    report = Path(tempfile.mkdtemp(prefix="lmeval-bench-pip-")) / "report.json"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--dry-run",
         "--ignore-installed", "--report", str(report), f"torch=={TORCH_VERSION}"],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"pip cannot resolve torch=={TORCH_VERSION}:\n{done.stderr[-2000:]}")
    items = json.loads(report.read_text())["install"]
    shutil.rmtree(report.parent, ignore_errors=True)
    names = {i["metadata"]["name"].lower(): i for i in items}
    version = names["torch"]["metadata"]["version"]
    cuda = [n for n in names if n.startswith(("nvidia-", "triton"))]
    if "+cu" in version or cuda:
        raise SystemExit(
            f"pip would install torch {version} with {', '.join(sorted(cuda)) or 'CUDA'} (a CUDA build); this "
            f"benchmark wants the CPU wheel of torch {TORCH_VERSION}: put it where pip finds it (PIP_FIND_LINKS) "
            "or give a venv that has it (--venv)"
        )
    return version


def ensure_venv(venv: Path) -> dict[str, str | None]:
    """Make (or reuse) the bench venv: torch 2.13.0 (CPU) first, then lm_eval[hf]==0.4.13 with torch held."""
    python = venv_python(venv)
    if not python.exists():
        print(f"creating the bench venv {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    have = venv_versions(python)
    if have["lm_eval"] == LMEVAL_VERSION and have["torch"]:
        return have
    if not have["torch"]:
        version = check_cpu_torch(python)
        print(f"installing torch {version} into {venv}", flush=True)
        if pip(python, "install", f"torch=={version}").returncode != 0:
            raise SystemExit("installing torch failed")
    torch_version = venv_versions(python)["torch"]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as held:
        held.write(f"torch=={torch_version}\n")  # lm-eval's requirements must not swap the build installed above
    print(f"installing lm_eval[hf]=={LMEVAL_VERSION} into {venv}", flush=True)
    try:
        if pip(python, "install", "-c", held.name, f"lm_eval[hf]=={LMEVAL_VERSION}").returncode != 0:
            raise SystemExit("installing lm-eval failed")
    finally:
        os.unlink(held.name)
    have = venv_versions(python)
    if have["lm_eval"] != LMEVAL_VERSION:
        raise SystemExit(f"the bench venv has lm_eval {have['lm_eval']}, not {LMEVAL_VERSION}")
    return have


def lm_eval_tasks_dir(python: Path) -> Path:
    code = "import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec('lm_eval').origin).parent)"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip()) / "tasks"


# -- documents, YAML, prompts -----------------------------------------------------------------------------------
@dataclass
class Prepared:
    """One case's documents (llm-tui's) and the request llm-tui builds for each."""

    case: Case
    subset: str
    doc_ids: list[int]
    pairs: dict[int, list[tuple[str, str]]]  # doc_id -> [(context, continuation)] per choice
    limit: int | None  # what llm-tui's --limit gets


def prepare(case: Case, cache: Path, limit: int | None, tasks_dir: Path, out: Path) -> Prepared:
    """Export the documents in the hub schema, write the task YAML into ``out``, rebuild llm-tui's requests."""
    from core.tasks import get_task

    task = get_task(case.task)
    data = task.load("bundled", cache)
    subset = case.subset or data.subsets[0]
    n = min(x for x in (case.docs, limit, len(data.docs[subset])) if x is not None)
    docs = data.docs[subset][:n]
    task.load_fewshot(data, [subset], case.shots, cache)
    task.check_shots(case.shots, data, [subset])
    pool = (task.fewshot_pool(data, subset) or []) if case.shots else []
    shots = pool[: case.shots]

    files = {case.split: out / f"{case.key}_{case.split}.jsonl"}
    write_jsonl(files[case.split], [d.fields for d in docs])
    if case.fewshot_split:
        files[case.fewshot_split] = out / f"{case.key}_{case.fewshot_split}.jsonl"
        write_jsonl(files[case.fewshot_split], [d.fields for d in pool])  # lm-eval's first_n sampler picks
    splits = {"training_split": None, "validation_split": None, "test_split": None}
    splits["test_split" if case.split == "test" else "validation_split"] = case.split
    config: dict[str, Any] = {
        "include": str(tasks_dir / case.include),
        "task": case.lm_task,
        "tag": [],
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {k: str(v) for k, v in files.items()}},
        **splits,
    }
    if case.fewshot_split:
        config["fewshot_split"] = case.fewshot_split
    # JSON is YAML: no YAML library is needed to write it.
    (out / f"{case.lm_task}.yaml").write_text(json.dumps(config, indent=2) + "\n")

    pairs = {d.doc_id: task.build(d, shots).pairs() for d in docs}  # type: ignore[union-attr]
    return Prepared(case, subset, [d.doc_id for d in docs], pairs, n if n < len(data.docs[subset]) else None)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


# -- running both tools ---------------------------------------------------------------------------------------------
def run_timed(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    """Run ``cmd`` to its end, output into ``log``; its wall time, process start to exit."""
    with log.open("w") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:])
        raise SystemExit(f"command failed (exit {done.returncode}): {' '.join(cmd)}\n{tail}\n(log: {log})")
    return wall


def offline_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_CACHE=str(work / "hf-datasets"),  # lm-eval's arrow copies of the exported files: throw-away
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def lm_eval_cmd(
    python: Path,
    model: Path,
    dtype: str,
    task: str,
    include: Path,
    out: Path,
    batch: int | None,
    shots: int,
    samples: bool,
) -> list[str]:
    cmd = [
        str(python.parent / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={model},dtype={dtype}",
        "--tasks", task, "--include_path", str(include), "--output_path", str(out), "--device", "cpu",
    ]  # fmt: skip
    if batch:
        cmd += ["--batch_size", str(batch)]
    if shots:
        cmd += ["--num_fewshot", str(shots)]
    if samples:
        cmd.append("--log_samples")
    return cmd


def llm_tui_cmd(case: Case, subset: str, dtype: str, cache: Path, out: Path, limit: int | None) -> list[str]:
    exe = Path(sys.executable).parent / "llm-tui"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tui.cli"]
    cmd += ["--batch", "--task", case.task, "--model", MODEL_ALIAS, "--dtype", dtype, "--device", "cpu",
            "--cache-dir", str(cache), "-o", str(out)]  # fmt: skip
    if case.subset:
        cmd += ["--subjects", subset]
    if case.shots:
        cmd += ["--shots", str(case.shots)]
    if limit:
        cmd += ["--limit", str(limit)]
    return cmd


def read_lm_eval(out: Path, task: str) -> tuple[dict[int, dict[str, Any]], dict[str, float]]:
    """lm-eval's per-document samples (doc_id -> sample) and its aggregate metrics."""
    samples = sorted(glob.glob(str(out / "**" / f"samples_{task}_*.jsonl"), recursive=True))
    results = sorted(glob.glob(str(out / "**" / "results_*.json"), recursive=True))
    per_doc: dict[int, dict[str, Any]] = {}
    if samples:
        for line in Path(samples[-1]).read_text().splitlines():
            if line.strip():
                s = json.loads(line)
                per_doc[int(s["doc_id"])] = s
    metrics: dict[str, float] = {}
    if results:
        res = json.loads(Path(results[-1]).read_text())["results"][task]
        metrics = {k.split(",")[0]: float(v) for k, v in res.items() if k in ("acc,none", "acc_norm,none")}
    return per_doc, metrics


def read_llm_tui(run_dir: Path) -> dict[int, dict[str, Any]]:
    lines = (run_dir / "questions.jsonl").read_text().splitlines()
    return {int(r["doc_id"]): r for r in (json.loads(x) for x in lines if x.strip())}


def sample_pairs(sample: dict[str, Any]) -> list[tuple[str, str]]:
    args = sample["arguments"]
    items = list(args.values()) if isinstance(args, dict) else args
    out = []
    for a in items:
        if isinstance(a, dict):
            a = [a[k] for k in sorted(a, key=lambda k: int(k.rsplit("_", 1)[-1]))]
        out.append((str(a[0]), str(a[1])))
    return out


def first_argmax(values: list[float]) -> int:
    """numpy's argmax: the first of equal maxima (lm-eval's rule)."""
    return max(range(len(values)), key=lambda i: (values[i], -i))


# -- comparing ----------------------------------------------------------------------------------------------------
@dataclass
class CaseReport:
    case: str
    lm_eval_task: str
    llm_tui_task: str
    subset: str
    shots: int
    docs: int
    compared: int = 0
    same_pred_acc: int = 0
    same_pred_acc_norm: int | None = None
    max_abs_dloglik: float = 0.0
    worst_doc: int | None = None
    prompts_identical: int = 0
    metrics_lm_eval: dict[str, float] = field(default_factory=dict)
    metrics_llm_tui: dict[str, float] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)  # each whole command, start to exit
    commands: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # every disagreement, one line each (first 20 kept)
    problem_count: int = 0

    @property
    def passed(self) -> bool:
        return self.problem_count == 0 and self.compared == self.docs


def first_difference(a: str, b: str) -> str:
    i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
    return f"at char {i}: lm-eval {a[max(0, i - 30) : i + 30]!r} vs llm-tui {b[max(0, i - 30) : i + 30]!r}"


def compare(p: Prepared, lm: dict[int, dict[str, Any]], tui: dict[int, dict[str, Any]], rep: CaseReport) -> None:
    def problem(text: str) -> None:
        rep.problem_count += 1
        if len(rep.problems) < 20:
            rep.problems.append(text)

    has_norm = "acc_norm" in next(iter(tui.values()), {}).get("metrics", {})
    if has_norm:
        rep.same_pred_acc_norm = 0
    for doc_id in p.doc_ids:
        s, r = lm.get(doc_id), tui.get(doc_id)
        if s is None or r is None:
            problem(f"doc {doc_id}: missing from {'lm-eval' if s is None else 'llm-tui'}")
            continue
        rep.compared += 1
        lm_pairs = sample_pairs(s)
        if lm_pairs == p.pairs[doc_id]:
            rep.prompts_identical += 1
        else:
            where = next(
                (j for j, (a, b) in enumerate(zip(lm_pairs, p.pairs[doc_id], strict=False)) if a != b), len(lm_pairs)
            )
            if where < min(len(lm_pairs), len(p.pairs[doc_id])):
                (c1, k1), (c2, k2) = lm_pairs[where], p.pairs[doc_id][where]
                what = first_difference(c1, c2) if c1 != c2 else "continuation " + first_difference(k1, k2)
            else:
                what = f"{len(lm_pairs)} choices vs {len(p.pairs[doc_id])}"
            problem(f"doc {doc_id}: prompt differs (choice {where}) {what}")
        lm_ll = [float(x[0]) for x in s["filtered_resps"]]
        tui_ll = [float(x) for x in r["scores"]]
        if len(lm_ll) != len(tui_ll):
            problem(f"doc {doc_id}: {len(lm_ll)} scores from lm-eval, {len(tui_ll)} from llm-tui")
            continue
        delta = max(abs(a - b) for a, b in zip(lm_ll, tui_ll, strict=True))
        if delta > rep.max_abs_dloglik:
            rep.max_abs_dloglik, rep.worst_doc = delta, doc_id
        if delta > TOLERANCE:
            problem(f"doc {doc_id}: |Δ loglik| {delta:.2e} > {TOLERANCE:g}: lm-eval {lm_ll} llm-tui {tui_ll}")
        pred = first_argmax(lm_ll)
        if pred == r["predicted"]:
            rep.same_pred_acc += 1
        else:
            problem(
                f"doc {doc_id}: acc prediction lm-eval {pred} llm-tui {r['predicted']} (logliks {lm_ll} / {tui_ll})"
            )
        if float(s["acc"]) != float(r["metrics"]["acc"]):
            problem(f"doc {doc_id}: acc lm-eval {s['acc']} llm-tui {r['metrics']['acc']}")
        if has_norm:
            # lm-eval's acc_norm divides each loglik by the length in characters of the choice text (the
            # continuation without its target delimiter)
            lengths = [len(k.removeprefix(" ")) for _, k in lm_pairs]
            pred_norm = first_argmax([ll / n if n else ll for ll, n in zip(lm_ll, lengths, strict=True)])
            if pred_norm == r["predicted_norm"]:
                rep.same_pred_acc_norm = (rep.same_pred_acc_norm or 0) + 1
            else:
                problem(f"doc {doc_id}: acc_norm prediction lm-eval {pred_norm} llm-tui {r['predicted_norm']}")
            if float(s["acc_norm"]) != float(r["metrics"]["acc_norm"]):
                problem(f"doc {doc_id}: acc_norm lm-eval {s['acc_norm']} llm-tui {r['metrics']['acc_norm']}")
    for m in ("acc", "acc_norm") if has_norm else ("acc",):
        values = [float(tui[d]["metrics"][m]) for d in p.doc_ids if d in tui]
        rep.metrics_llm_tui[m] = round(sum(values) / len(values), 6) if values else float("nan")


def run_case(case: Case, args: argparse.Namespace, ctx: dict[str, Any]) -> CaseReport:
    work: Path = ctx["work"] / case.key
    work.mkdir(parents=True)
    p = prepare(case, ctx["cache"], args.limit, ctx["tasks_dir"], work)
    rep = CaseReport(case.key, case.lm_task, case.task, p.subset, case.shots, len(p.doc_ids))
    print(f"[{case.key}] {len(p.doc_ids)} documents, {case.shots}-shot: running lm-eval...", flush=True)
    rep.commands["lm_eval"] = cmd = lm_eval_cmd(
        ctx["python"], ctx["model"], "float32", case.lm_task, work, work / "lm-eval", args.lmeval_batch_size,
        case.shots, samples=True,
    )  # fmt: skip
    rep.wall_s["lm_eval"] = round(run_timed(cmd, work / "lm-eval.log", ctx["env"]), 2)
    print(f"[{case.key}] lm-eval {rep.wall_s['lm_eval']:.0f} s; running llm-tui...", flush=True)
    rep.commands["llm_tui"] = cmd = llm_tui_cmd(case, p.subset, "float32", ctx["cache"], work / "llm-tui", p.limit)
    rep.wall_s["llm_tui"] = round(run_timed(cmd, work / "llm-tui.log", ctx["env"]), 2)
    print(f"[{case.key}] llm-tui {rep.wall_s['llm_tui']:.0f} s", flush=True)
    lm, rep.metrics_lm_eval = read_lm_eval(work / "lm-eval", case.lm_task)
    compare(p, lm, read_llm_tui(work / "llm-tui"), rep)
    return rep


# -- speed ----------------------------------------------------------------------------------------------------------
def warm_page_cache(folder: Path) -> None:
    """Read the model's files once, so neither tool pays for the first read from disk."""
    for f in folder.iterdir():
        if f.is_file():
            with f.open("rb") as fh:
                while fh.read(1 << 24):
                    pass


def run_speed(args: argparse.Namespace, ctx: dict[str, Any], reuse: CaseReport | None) -> dict[str, Any]:
    """Time both tools on ARC-Challenge. ``reuse``: this invocation's ARC fidelity case, run with the same
    settings (float32, same documents, same lm-eval batch size): its two timed commands are taken as they are
    (lm-eval's with --log_samples on) instead of running both again; --fresh-speed runs them anyway."""
    from core.evaluate import default_batch_size

    case = CASES[SPEED_CASE]
    work: Path = ctx["work"] / "speed"
    work.mkdir(parents=True)
    p = prepare(case, ctx["cache"], args.limit, ctx["tasks_dir"], work)
    warm_page_cache(ctx["model"])
    runs: list[dict[str, Any]] = []
    if reuse is not None:
        print("[speed] float32: taking the ARC fidelity case's two timed commands", flush=True)
        for tool, key, batch in (("lm-eval", "lm_eval", args.lmeval_batch_size), ("llm-tui", "llm_tui", None)):
            runs.append({"tool": tool, "batch_size": batch or default_batch_size("cpu", "choice_loglik"),
                         "default_batch_size": batch is None, "wall_s": reuse.wall_s[key],
                         "metrics": reuse.metrics_lm_eval if key == "lm_eval" else reuse.metrics_llm_tui,
                         "command": reuse.commands[key], "from": "fidelity case arc"})  # fmt: skip
    plan: list[tuple[str, int | None]] = [("lm-eval", args.lmeval_batch_size)]
    if args.lmeval_default_bs:
        plan.append(("lm-eval", None))
    plan.insert(1, ("llm-tui", None))
    if reuse is not None:
        plan = plan[2:]
    for tool, batch in plan:
        label = f"{tool} bs {batch or ('default' if tool == 'llm-tui' else 'default (1)')}"
        print(f"[speed] {len(p.doc_ids)} documents, {args.dtype}: {label}...", flush=True)
        out = work / f"{tool}-{batch or 'default'}"
        if tool == "lm-eval":
            cmd = lm_eval_cmd(ctx["python"], ctx["model"], args.dtype, case.lm_task, work, out, batch, 0, False)
            wall = run_timed(cmd, work / f"{out.name}.log", ctx["env"])
            metrics = read_lm_eval(out, case.lm_task)[1]
            batch_size = batch or 1
        else:
            cmd = llm_tui_cmd(case, p.subset, args.dtype, ctx["cache"], out, p.limit)
            wall = run_timed(cmd, work / f"{out.name}.log", ctx["env"])
            records = read_llm_tui(out)
            metrics = {
                m: round(sum(float(r["metrics"][m]) for r in records.values()) / len(records), 6)
                for m in ("acc", "acc_norm")
            }
            batch_size = default_batch_size("cpu", "choice_loglik")
        print(f"[speed] {label}: {wall:.1f} s", flush=True)
        runs.append({"tool": tool, "batch_size": batch_size, "default_batch_size": batch is None,
                     "wall_s": round(wall, 2), "metrics": metrics, "command": cmd})  # fmt: skip
    tui_wall = next(r["wall_s"] for r in runs if r["tool"] == "llm-tui")
    for r in runs:
        r["ratio_to_llm_tui"] = round(r["wall_s"] / tui_wall, 2)
    return {"task": case.task, "docs": len(p.doc_ids), "dtype": args.dtype, "runs": runs}


# -- report ---------------------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    from core.devices import cpu_name

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"cpu": cpu_name(), "cpu_count": os.cpu_count(), "usable_cores": affinity, "platform": platform.platform()}


def print_report(report: dict[str, Any]) -> None:
    m, v = report["machine"], report["versions"]
    print()
    print(f"machine: {m['cpu']}, {m['usable_cores'] or m['cpu_count']} cores usable ({m['cpu_count']} online)")
    print(f"lm-eval venv: {', '.join(f'{k} {x}' for k, x in v['lm_eval_venv'].items())}")
    print(f"llm-tui venv: {', '.join(f'{k} {x}' for k, x in v['llm_tui_venv'].items())}")
    print(f"model: {report['model']} (float32 folder {report['model_folder']})")
    if report["cases"]:
        print(f"\nfidelity (float32, CPU; |Δ loglik| must be <= {TOLERANCE:g}):")
        head = f"{'case':<10} {'docs':>5} {'same acc':>10} {'same norm':>10} {'max |Δ ll|':>11} {'prompts':>10}"
        print(head + "  metrics lm-eval / llm-tui                wall lm-eval / llm-tui")
        for c in report["cases"]:
            n = c["docs"]
            norm = "-" if c["same_pred_acc_norm"] is None else f"{c['same_pred_acc_norm']}/{n}"
            metrics = "  ".join(
                f"{k} {c['metrics_lm_eval'].get(k, float('nan')):.4f}/{c['metrics_llm_tui'].get(k, float('nan')):.4f}"
                for k in c["metrics_llm_tui"]
            )
            wall = f"{c['wall_s'].get('lm_eval', 0):.0f} s / {c['wall_s'].get('llm_tui', 0):.0f} s"
            print(
                f"{c['case']:<10} {n:>5} {c['same_pred_acc']:>5}/{n:<4} {norm:>10} {c['max_abs_dloglik']:>11.2e} "
                f"{c['prompts_identical']:>5}/{n:<4}  {metrics:<40} {wall}  {'ok' if c['passed'] else 'FAIL'}"
            )
            for line in c["problems"]:
                print(f"    {line}")
            if c["problem_count"] > len(c["problems"]):
                print(f"    ... {c['problem_count'] - len(c['problems'])} more")
    s = report.get("speed")
    if s:
        print(f"\nspeed: {s['task']}, {s['docs']} documents, {s['dtype']}, CPU, whole command (start to exit):")
        for r in s["runs"]:
            bs = f"{r['batch_size']}{' (default)' if r['default_batch_size'] else ''}"
            metrics = ", ".join(f"{k} {x:.4f}" for k, x in r["metrics"].items())
            mark = " (the fidelity case's run)" if r.get("from") else ""
            print(
                f"  {r['tool']:<8} batch {bs:<13} {r['wall_s']:>8.1f} s  x{r['ratio_to_llm_tui']:<5}  {metrics}{mark}"
            )
        lm = [r for r in s["runs"] if r["tool"] == "lm-eval"]
        print("  lm-eval / llm-tui: " + ", ".join(f"{r['ratio_to_llm_tui']:.2f} (bs {r['batch_size']})" for r in lm))
    if report["cases"]:
        print(f"\nfidelity: {'PASS' if report['passed'] else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--venv", type=Path, default=DEFAULT_VENV, help="the lm-eval venv, made when missing (default %(default)s)"
    )
    ap.add_argument("--cases", default="arc,hellaswag,mmlu5", help="fidelity cases: arc, hellaswag, mmlu5, or none")
    ap.add_argument("--limit", type=int, help="at most N documents per case (and for the speed runs): quick tries")
    ap.add_argument("--skip-speed", action="store_true", help="fidelity only")
    ap.add_argument(
        "--fresh-speed",
        action="store_true",
        help="time ARC again for the speed table even when the float32 ARC fidelity case just ran",
    )
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"), help="speed runs' dtype")
    ap.add_argument("--lmeval-batch-size", type=int, default=16, help="lm-eval's --batch_size (default %(default)s)")
    ap.add_argument(
        "--lmeval-default-bs", action="store_true", help="speed: also lm-eval at its default batch size (1)"
    )
    ap.add_argument("--cache-dir", help="llm-tui's asset cache (default $LLM_TUI_CACHE or ~/.cache/llm-tui)")
    ap.add_argument(
        "--workdir", type=Path, help="keep the exported data, YAMLs, logs and outputs here (default: a temp folder)"
    )
    ap.add_argument("--json", type=Path, help="also write the report as JSON")
    args = ap.parse_args(argv)

    keys = [k.strip() for k in args.cases.split(",") if k.strip() and k.strip() != "none"]
    unknown = [k for k in keys if k not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; choose among {', '.join(CASES)}")
    if not keys and args.skip_speed:
        ap.error("nothing to do: no cases and --skip-speed")

    from core import assets
    from core.locations import cache_dir
    from core.models import convert_gguf
    from core.sysinfo import software_versions

    cache = cache_dir(args.cache_dir)
    model = convert_gguf(assets.ensure(MODEL_ALIAS, cache), cache)  # the float32 folder llm-tui itself loads
    versions = ensure_venv(args.venv.expanduser().resolve())
    python = venv_python(args.venv.expanduser().resolve())
    work = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="lmeval-compare-"))
    if args.workdir:
        if work.exists() and any(work.iterdir()):
            ap.error(f"--workdir {work} is not empty (llm-tui would resume runs found there)")
        work.mkdir(parents=True, exist_ok=True)
    ctx = {"cache": cache, "model": model, "python": python, "tasks_dir": lm_eval_tasks_dir(python),
           "work": work, "env": offline_env(work)}  # fmt: skip
    report: dict[str, Any] = {
        "lm_eval": LMEVAL_VERSION,
        "model": MODEL_ALIAS,
        "model_folder": str(model),
        "machine": machine(),
        "versions": {"lm_eval_venv": versions, "llm_tui_venv": software_versions()},
        "limit": args.limit,
        "lmeval_batch_size": args.lmeval_batch_size,
        "tolerance": TOLERANCE,
        "cases": [],
    }
    reports: list[CaseReport] = []
    warm_page_cache(model)
    try:
        for key in keys:
            reports.append(rep := run_case(CASES[key], args, ctx))
            report["cases"].append({**asdict(rep), "passed": rep.passed})
        if not args.skip_speed:
            arc = next((r for r in reports if r.case == SPEED_CASE), None)
            reuse = arc if arc is not None and args.dtype == "float32" and not args.fresh_speed else None
            report["speed"] = run_speed(args, ctx, reuse)
    except BaseException:
        print(f"stopped; the exported data, YAMLs, logs and outputs are kept in {work}", file=sys.stderr)
        raise
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    report["passed"] = all(c["passed"] for c in report["cases"])
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
