"""Command line: ``python -m naomi_nb COMMAND``, one command per stage (see `build_parser`)."""
from __future__ import annotations

import os
import signal
import sys


def _startup_signal(signum, frame):
    """Ctrl-C or SIGTERM while ``python -m naomi_nb`` starts (imports, parsing: nothing written yet): end at
    once in one line. Raising instead would unwind through a half-done import, whose traceback can end in
    an unrelated ImportError."""
    sys.stderr.write(f"{'terminated (SIGTERM)' if signum == signal.SIGTERM else 'interrupted'} during start-up\n")
    sys.stderr.flush()
    os._exit(128 + signum)  # 130 for SIGINT, 143 for SIGTERM, as after the start


if __name__ == "__main__":  # before the imports below, which take most of a second
    for _s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_s, _startup_signal)

import argparse  # noqa: E402 - after the start-up handlers
import threading  # noqa: E402
import time  # noqa: E402

from . import record as R  # noqa: E402
from .config import (ConfigError, TrainConfig, add_train_arguments, check_explicit, config_from_args,  # noqa: E402
                     explicit_args, preset_help)
from .dims import SATURATED_SHARE  # noqa: E402
from .fmt import fmt_log_loss as _num  # noqa: E402


class LogPrinter:
    """Turns the trainer's per-epoch records into the seed's log lines."""

    def __init__(self, out=None, saturation_threshold: float = 0.3):
        self.out = out or sys.stdout
        self.saturation = saturation_threshold

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def __call__(self, r: dict) -> None:
        events = {e["type"]: e for e in r.get("events", [])}
        if not R.is_epoch(r):
            e = events[R.INTERRUPTED]
            self.say(f"\n[Stopped] Interrupted during epoch {e['epoch']}; {e['completed_epochs']} epochs complete, "
                     "run directory is resumable (--resume)")
            return
        say = self.say
        say(f"\nEpoch {r['epoch']}/{r['epochs']}")
        for name, side in (("Train", "train"), ("Val  ", "val")):
            terms = ", ".join(f"{t.capitalize()}: {_num(r[f'{side}_{t}'])}" for t in R.terms_of(r))
            say(f"  {name} - Total: {_num(r[side + '_total'])}, {terms}")
        say(f"  Sparsity: {r['sparsity_pct']:.1f}% (target: 40-70%)")
        say(f"  Exact zeros: {r['zeros_pct']:.1f}%, active dims per word: {r['active_per_word']:.0f} "
            f"of {r['dims_before']} (median)")
        say(f"  Time: {r['seconds']:.2f} s ({r['edges_per_s'] / 1e6:.2f}M edges/s)")
        for e in (x for x in r["events"] if x["type"] == R.OOM):
            site = e.get("site", "step")
            if site == R.EXPAND:
                say(f"  Out of memory adding dimensions ({e['old_dims']} -> {e['new_dims']}): training goes on "
                    f"with {e['old_dims']}")
            elif site == "validation":
                say(f"  Out of memory in validation: chunks halved {e['old_batch']} -> {e['new_batch']}, retried")
            else:
                say(f"  Out of memory: batch size halved {e['old_batch']} -> {e['new_batch']}, step retried")
        if R.NAN in events:
            best = events[R.NAN]["best_epoch"]
            say(f"\n[Stopped] Loss became NaN at epoch {r['epoch']}; "
                + (f"keeping the best model (epoch {best})" if best else
                   "no epoch finished with a finite loss, so there is no trained model to keep"))
            return
        if R.EXPAND in events:
            e = events[R.EXPAND]
            say(f"\n[Epoch {r['epoch']}] Adding {e['new_dims'] - e['old_dims']} dimensions "
                f"({e['old_dims']} -> {e['new_dims']})")
            say(f"[Epoch {r['epoch']}] Dimension Statistics:")
            say(f"  Total dimensions: {e['new_dims']}")
            s = e["stats"]
            say(f"  Before expansion: {s['saturated']} of {e['old_dims']} saturated (active in >= "
                f"{self.saturation:.0%} of words; expansion needs {SATURATED_SHARE:.0%}); bands: {s['dense']} dense "
                f"(>=70%), {s['moderate']} moderate (30-70%), {s['sparse']} sparse (10-30%), {s['unused']} unused (<10%)")
            if R.BATCH in events:
                batch = events[R.BATCH]
                say(f"  Adapted batch size to {batch['batch_size']} for {batch['dims']} dimensions")
            if events[R.OPTIMIZER]["mode"] == "reset":
                say("  Reinitialized optimizer with new dimensions")
            else:
                say("  Carried optimizer state over to the new dimensions (new columns start at zero moments)")
            if R.MAX_DIMS in events:
                say(f"  Maximum dimensions reached ({events['max_dims']['dims']})")
        if R.LR in events:
            say(f"  Learning rate lowered {events[R.LR]['old_lr']:g} -> {events[R.LR]['new_lr']:g} "
                f"(no improvement for {r['bad_epochs']} epochs)")
        if r["best"]:
            say(f"  New best model! (val_loss: {_num(r['val_total'])})")
        elif r["bad_epochs"]:
            say(f"  No improvement for {r['bad_epochs']} epochs")
        if R.EARLY_STOP in events:
            e = events[R.EARLY_STOP]
            say(f"\n[Early Stopping] No improvement for {r['bad_epochs']} epochs")
            say(f"[Early Stopping] Best validation loss: {_num(e['best_val'])}")
            say(f"[Early Stopping] Stopping training at epoch {r['epoch']}")


def cmd_prepare(args) -> int:
    from .wordnet import prepare_wordnet

    prepare_wordnet(args.output, wordnet_dir=args.wordnet_dir, progress=not args.no_progress, roots=args.root)
    return 0


def train_config(args) -> TrainConfig:
    """``train``'s config: defaults <- preset <- flags; with ``--resume``, the run's own <- the flags it may change."""
    if not args.resume:
        warnings = check_explicit(explicit_args(args), args.preset)
        cfg = config_from_args(args)  # a value the config refuses is the one line, not a warning before it
        for line in warnings:
            print(f"warning: {line}", file=sys.stderr, flush=True)
        return cfg
    if args.preset:
        raise ConfigError("with --resume only --epochs, --patience, --device and --[no-]analyze can change "
                          "(got --preset)")
    from .rundir import resume_config

    return resume_config(args.resume, explicit_args(args))


def _cli_dashboard(cfg, resume):
    """The notebooks' dashboard as one more callback, drawn only where an epoch carries an event and at the
    end (the picture is saved, never shown), with a resumed run's earlier epochs."""
    from .dashboard import Dashboard

    dash = Dashboard(every=10**9, show=False, cfg=cfg)
    if resume:
        from .rundir import read_history

        dash.history = read_history(resume)
    return dash


def _save_dashboard(dash, result, say) -> None:
    """dashboard.png in the run directory, as notebook runs write it; a failure to draw costs one line."""
    from .rundir import DASHBOARD

    dash.finish()
    dash.label(run_dir=result.run_dir)
    try:
        dash.save(result.run_dir / DASHBOARD)
    except (OSError, ValueError, RuntimeError) as err:
        say(f"  (dashboard.png not written: {err})")


def cmd_train(args) -> int:
    from .report import analyze_result
    from .trainer import train

    cfg = train_config(args)
    printer = LogPrinter(saturation_threshold=cfg.saturation_threshold)
    callbacks = [printer]
    if args.tensorboard:
        from .tensorboard import TensorBoardCallback

        callbacks.append(TensorBoardCallback())  # writes into the run directory, closed when the run ends
    dash = _cli_dashboard(cfg, args.resume)
    callbacks.append(dash)
    t0 = time.perf_counter()
    result = train(cfg, callbacks=callbacks, resume=args.resume, log=printer.say, progress=True)
    m = result.metrics
    minutes = (time.perf_counter() - t0) / 60
    _save_dashboard(dash, result, printer.say)
    if m["stopped"] == R.INTERRUPTED:
        # no analysis: the run is not finished, and a second signal should not find us inside it
        by = m.get("signal")
        printer.say(f"\nTraining stopped after {m['epochs_run']} epochs ({'SIGTERM' if by == 'SIGTERM' else 'interrupted'}, "
                    f"{minutes:.1f} minutes); resume with --resume {result.run_dir}")
        return 143 if by == "SIGTERM" else 130
    if cfg.analyze:  # --no-analyze also with --resume (the resumed run's config.json keeps its own value)
        analyze_result(result, log=printer.say)
    printer.say(f"\nTraining {'stopped' if m['stopped'] == R.NAN else 'completed'} in {minutes:.1f} minutes")
    if m["best_epoch"]:
        printer.say(f"  {m['epochs_run']} epochs, best validation loss {_num(m['best_val'])} at epoch "
                    f"{m['best_epoch']}, {m['final_dims']} dimensions, {m['seconds_per_epoch'] or 0:.2f} s per "
                    "epoch (median)")
    printer.say(f"  Run directory: {result.run_dir}")
    if m["best_epoch"] and m["stopped"] != R.NAN:
        from .report import next_steps

        printer.say("  Next:\n" + "\n".join(f"    {step}" for step in next_steps(result.run_dir)))
    if m["stopped"] == R.NAN:
        kept = (f"the best model (epoch {m['best_epoch']}) is kept in {result.run_dir}" if m["best_epoch"] else
                f"no epoch finished with a finite loss: {result.run_dir} holds no trained model (try a lower --lr)")
        print(f"error: loss became NaN at epoch {m['nan_epoch']}; {kept}", file=sys.stderr)
        return 1
    return 0


def cmd_analyze(args) -> int:
    from .report import analyze_run

    analyze_run(args.run_dir)
    return 0


def cmd_sparsify(args) -> int:
    from .stages.sparsify import given_settings, sparsify

    sparsify(args.run_dir, given_settings(args), output_dir=args.output_dir, device=args.device,
             analyze=args.analyze)
    return 0


def cmd_describe(args) -> int:
    from . import rundir
    from .analysis import AnalysisError, resolve
    from .cards import dimension_cards, profile_text
    from .files import read_json
    from .semantics import _find_wordnet

    run = rundir.load_run(args.run_dir)
    if not R.trained(run.metrics):
        raise AnalysisError(f"{run.run_dir} holds no trained model: no epoch finished with a finite validation "
                            f"loss ({run.metrics.get('stopped', 'stopped')}), so its embeddings are the initial "
                            "random values")
    resolve(run.vocab, args.word)  # an unknown word is a one-line error before WordNet is loaded
    eps = float(run.config.get("activity_eps", 1e-6))
    wn = _find_wordnet()  # the senses' glosses when this machine has WordNet
    path, n_dims = run.run_dir / rundir.REPORT, run.embeddings.shape[1]
    try:
        report = read_json(path, rundir.RunDirError)
    except rundir.RunDirError as err:  # missing or damaged: the cards are computed instead
        report, why = None, str(err)
    cards = report.get("cards") if isinstance(report, dict) else None
    if report is not None:
        why = (f"{path} holds no cards" if not isinstance(cards, list) or not cards else
               None if len(cards) == n_dims else f"{path} holds cards of {len(cards)} dims, not {n_dims}")
    if why:
        print(f"{why}: computing the cards (`python -m naomi_nb analyze RUN_DIR` stores them)")
        cards = dimension_cards(run.embeddings, run.vocab, eps=eps, named=rundir.named_dims(run.metrics))
    print(profile_text(run.embeddings, run.vocab, args.word, cards, top=args.top, eps=eps, wn=wn))
    return 0


def cmd_export(args) -> int:
    from pathlib import Path

    from .export import export_word2vec
    from .rundir import EMBEDDINGS, RunDirError, load_embeddings, load_metrics, load_vocabulary

    run = Path(args.run_dir)
    metrics = load_metrics(run)  # a damaged metrics.json is one line, not a run taken as trained
    if not R.trained(metrics) and not args.allow_untrained:
        raise RunDirError(f"{run} holds no trained model (no epoch finished with a finite validation loss: "
                          f"{metrics.get('stopped', 'stopped')}), so its embeddings are the initial random values; "
                          "--allow-untrained exports them anyway")
    emb = load_embeddings(run / EMBEDDINGS)  # refuses a missing, damaged or non-finite matrix in one line
    vocab = load_vocabulary(run)
    if vocab.size != emb.shape[0]:
        raise RunDirError(f"{run}: embeddings.npy has {emb.shape[0]:,} rows for {vocab.size:,} senses")
    if args.format == "projector":
        from .export import export_projector

        vectors, metadata, how = export_projector(emb, vocab, args.output or run / "projector", args.limit)
        print(f"wrote {vectors} and {metadata}: {how}")
        return 0
    out = args.output or str(run / f"embeddings.{args.per}.w2v.txt")
    export_word2vec(emb, vocab, out, per=args.per)
    print(f"wrote {out}")
    return 0


def cmd_search(args) -> int:
    from .config import explicit_args
    from .search import best_trials, format_table, load_study, search

    if args.report:
        study = load_study(args.study, args.storage, args.output_dir)
        print(f"study {args.study!r}: {len(study.trials)} trials, {study.direction.name.lower()} "
              f"{study.user_attrs.get('objective', 'value')}")
        print(format_table(best_trials(study, args.top)))
        return 0
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # several CPU workers on one machine: split the cores between them
    from .config import check_switches

    check_switches(explicit_args(args))  # the rest of check_explicit: a --param may make a setting apply
    base = config_from_args(args)
    if "analyze" not in explicit_args(args):
        base = base.replace(analyze=False)  # report.json and figures cost seconds per trial; analyze the best later
    study = search(base, args.param or [], args.n_trials, study_name=args.study, storage=args.storage,
                   study_dir=args.output_dir, objective=args.metric, sampler=args.sampler, seed=args.sampler_seed,
                   pruner=args.pruner, startup_trials=args.pruner_startup_trials, warmup_epochs=args.pruner_warmup_epochs,
                   heartbeat=args.heartbeat, grace=args.grace, max_retry=args.max_retry,
                   tensorboard=args.tensorboard)
    print(format_table(best_trials(study, args.top)))
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench

    run_bench(args)
    return 0


def _whole(at_least: int, what: str):
    """An argparse type: a whole number >= ``at_least`` (``what``: its name in argparse's message)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < at_least:
            raise argparse.ArgumentTypeError(f"must be at least {at_least} (got {value})")
        return value

    parse.__name__ = what
    return parse


_positive_int = _whole(1, "positive whole number")  # a size or a count of at least one
_count = _whole(0, "count")  # a count that may be zero


def _sampler_seed(text: str) -> int:
    """argparse type: a sampler's seed, a whole number in [0, 2**32)."""
    from .search import SEED_LIMIT

    value = _count(text)
    if value >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be below 2**32 (got {value})")
    return value


def _text(text: str) -> str:
    """argparse type: a name or path that is not empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _objective_specs(text: str) -> str:
    """argparse type: bench's comma-separated objectives, each a name, SAMPLER:K or OBJECTIVE:SAMPLER:K with
    K >= 1; kept as the text (the names are checked against the registry before the benchmark starts)."""
    specs = [x.strip() for x in text.split(",") if x.strip()]
    if not specs:
        raise argparse.ArgumentTypeError(f"expected comma-separated objectives, got {text!r}")
    for spec in specs:
        names, colon, k = spec.rpartition(":")
        if colon and (not all(names.split(":")) or not k.isdigit() or int(k) < 1):
            raise argparse.ArgumentTypeError(f"{spec!r}: SAMPLER:K needs a sampler and a whole number K >= 1")
    return text


def _positive_ints(text: str) -> str:
    """argparse type: comma-separated integers >= 1, e.g. ``128,512``; kept as the text."""
    parts = [x.strip() for x in text.split(",") if x.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}")
    for part in parts:
        _positive_int(part)
    return text


def _directory(text: str) -> str:
    """argparse type: a path that is a directory or can become one."""
    from pathlib import Path

    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory, got an empty string")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    return text


class _CommandList(argparse.HelpFormatter):
    """The top-level help lists the commands one a line, without argparse's extra 'COMMAND' heading."""

    def _format_action(self, action):
        if isinstance(action, argparse._SubParsersAction):
            return "".join(self._format_action(command) for command in action._get_subactions())
        return super()._format_action(action)


class _Parser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line (argparse prints its usage block first), exit code 2;
    the command's subparsers are made of the same class."""

    def error(self, message):
        self.exit(2, f"error: {message} ({self.prog} --help lists the flags)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m naomi_nb", formatter_class=_CommandList,
                                description="Sparse, interpretable embeddings of WordNet word senses.",
                                epilog="python -m naomi_nb COMMAND --help lists a command's flags.")
    sub = p.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    # the train and search help ends with the presets, laid out by hand (the flags' help is wrapped as usual)
    with_presets = dict(epilog=preset_help(), formatter_class=argparse.RawDescriptionHelpFormatter)

    prep = sub.add_parser("prepare-wordnet", help="build the sense-level WordNet training graph")
    prep.add_argument("--output", type=_directory, default="data/wordnet_training", help="graph directory to write (default: %(default)s)")
    prep.add_argument("--wordnet-dir", type=_text, default=None,
                      help="a WordNet 3.0 dict directory to use (default: NLTK's data, then /usr/share/wordnet, "
                           "then nltk.download; also $NAOMI_NB_WORDNET_DIR)")
    prep.add_argument("--root", action="append", type=_text, default=None, metavar="SYNSET",
                      help="keep only the senses below this synset (hyponyms and instance hyponyms, "
                           "transitively) and the edges among them, e.g. --root mammal.n.01; repeatable")
    prep.add_argument("--no-progress", action="store_true", help="no progress bars")
    prep.set_defaults(func=cmd_prepare)

    tr = sub.add_parser("train", help="train embeddings (the seed's flags and defaults)",
                        description="Train embeddings into a new run directory, or resume one. Without flags it "
                                    "keeps the seed's defaults (with the kit's objective) and returns the trained "
                                    "dense vectors; make run and the notebooks add --stage sparse-code, a sparse "
                                    "overcomplete code of them whose axes read better than a rotation's "
                                    "(docs/quality.md), at the cost of a few more minutes.", **with_presets)
    add_train_arguments(tr)
    tr.add_argument("--resume", type=_text, default=None, metavar="RUN_DIR",
                    help="continue a run from its last checkpoint (its config is reused; --epochs, --patience "
                         "and --device may be changed)")
    tr.add_argument("--tensorboard", action="store_true",
                    help="also write every epoch to TensorBoard event files in the run directory "
                         "(view with: tensorboard --logdir runs)")
    tr.set_defaults(func=cmd_train)

    an = sub.add_parser("analyze", help="write a run's report.json, summary.txt and figures")
    an.add_argument("run_dir")
    an.set_defaults(func=cmd_analyze)

    sp = sub.add_parser("sparsify", help="apply a post-training stage (a sparse code) to a run, into a new run",
                        description="Make a finished run's trained vectors into a post-training stage's (by "
                                    "default a sparse overcomplete code) and write them as a new run directory, "
                                    "analysed as any run. Everything is checked before anything is written.")
    sp.add_argument("run_dir")
    from .stages.sparsify import add_stage_arguments

    add_stage_arguments(sp)
    sp.add_argument("--output-dir", type=_directory, default=None,
                    help="the new run directory (default: RUN_DIR-STAGE beside the run)")
    sp.add_argument("--device", type=_text, default=None,
                    help="where the stage runs: auto, cpu, cuda or cuda:N (default: the run's own setting)")
    sp.add_argument("--analyze", action=argparse.BooleanOptionalAction, default=True,
                    help="write the new run's report.json, summary.txt and figures (default: on)")
    sp.set_defaults(func=cmd_sparsify)

    de = sub.add_parser("describe", help="a word's active dimensions, largest first, named by their cards")
    de.add_argument("run_dir")
    de.add_argument("word", help="a word (all its senses) or a sense key like dog.n.01.dog")
    de.add_argument("--top", type=_positive_int, default=10, help="dimensions per sense (default: %(default)s)")
    de.set_defaults(func=cmd_describe)

    ex = sub.add_parser("export", help="write a run's embeddings (word2vec text, Projector TSV)")
    ex.add_argument("run_dir")
    ex.add_argument("--per", choices=["sense", "word"], default="sense",
                    help="one vector per sense, or per word (mean of its senses) (default: %(default)s)")
    ex.add_argument("--output", type=_text, default=None,
                    help="output file (default: RUN_DIR/embeddings.PER.w2v.txt; for projector a directory, default "
                         "RUN_DIR/projector)")
    ex.add_argument("--format", choices=["word2vec", "projector"], default="word2vec",
                    help="word2vec text, or vectors.tsv + metadata.tsv for TensorBoard's Embedding Projector "
                         "(per sense) (default: %(default)s)")
    ex.add_argument("--limit", type=_positive_int, default=10000,
                    help="projector: at most this many senses, the most frequent first when the vocabulary "
                         "has counts (default: %(default)s)")
    ex.add_argument("--allow-untrained", action="store_true",
                    help="export a run that holds no trained model (stopped by NaN or before its first epoch "
                         "finished): its random initial values")
    ex.set_defaults(func=cmd_export)

    se = sub.add_parser("search", help="Optuna search over training settings, one run per trial",
                        description="Optuna hyperparameter search: trials are run directories; several workers "
                                    "can share one study through --storage. Training flags set the base every "
                                    "trial starts from; --output-dir is the study directory (default "
                                    "runs/search-STUDY), each trial a run in it.", **with_presets)
    add_train_arguments(se)
    se.add_argument("--param", action="append", metavar="SPEC",
                    help="a searched setting: NAME=LOW:HIGH, NAME=LOW:HIGH:log or NAME=A,B,C (repeatable; "
                         "leave out to join an existing study with its own space)")
    se.add_argument("--n-trials", type=_positive_int, default=20,
                    help="the study's total number of trials over all workers (default: %(default)s)")
    se.add_argument("--study", type=_text, default="search", help="study name (default: %(default)s)")
    se.add_argument("--storage", type=_text, default=None, metavar="URL",
                    help="SQLAlchemy URL, e.g. postgresql://user:pass@host/db, shared by workers on several "
                         "machines (default: sqlite file study.db in the study directory)")
    se.add_argument("--metric", default="val_loss", choices=["val_loss", "hypernym_mrr"],
                    help="best validation loss (minimised, pruned per epoch) or held-out hypernym MRR "
                         "(maximised, not pruned) (default: %(default)s)")
    se.add_argument("--sampler", default="tpe", choices=["tpe", "random", "grid"],
                    help="Optuna sampler; grid needs choices for every --param (default: %(default)s)")
    se.add_argument("--sampler-seed", type=_sampler_seed, default=None,
                    help="seed of the sampler, 0 to 2**32 - 1 (default: none)")
    se.add_argument("--pruner", default="median", choices=["median", "none"], help="(default: %(default)s)")
    se.add_argument("--pruner-startup-trials", type=_count, default=3,
                    help="finished trials before the median pruner acts (default: %(default)s)")
    se.add_argument("--pruner-warmup-epochs", type=_count, default=2,
                    help="epochs of every trial that are never pruned (default: %(default)s)")
    se.add_argument("--heartbeat", type=_positive_int, default=60,
                    help="seconds between a running trial's heartbeats in the database (default: %(default)s)")
    se.add_argument("--grace", type=_positive_int, default=None,
                    help="seconds without a heartbeat after which a trial counts as dead, is marked failed "
                         "and retried (default: twice --heartbeat)")
    se.add_argument("--max-retry", type=_count, default=1,
                    help="retries of a dead worker's trial (default: %(default)s)")
    se.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=True,
                    help="TensorBoard event files in every trial's run directory (default: on)")
    se.add_argument("--threads", type=_positive_int, default=None,
                    help="CPU threads of this worker (default: torch's, all cores); with W CPU workers on one "
                         "machine give each cores/W, or they slow each other down many times over")
    se.add_argument("--report", action="store_true", help="print the study's best trials and exit")
    se.add_argument("--top", type=_positive_int, default=10, help="rows of the best-trials table (default: %(default)s)")
    se.set_defaults(func=cmd_search)

    be = sub.add_parser("bench", help="measure seconds per epoch and edges/s on the full graph")
    be.add_argument("--training-data", type=_text, default="data/wordnet_training",
                    help="graph directory (default: %(default)s)")
    be.add_argument("--dims", type=_positive_ints, default="128,512", help="comma-separated widths (default: %(default)s)")
    be.add_argument("--batch-size", type=_positive_int, default=262144, help="edges per step (default: %(default)s)")
    be.add_argument("--epochs", type=_positive_int, default=5, help="epochs per setting, the first counts compile/warm-up "
                                                         "(default: %(default)s)")
    be.add_argument("--objectives", type=_objective_specs, default="seed,uniform:1,batch:1,graded",
                    help="comma-separated objectives: an objective's name (seed, graded, ...; with its defaults), "
                         "or SAMPLER:K for negatives with K per edge from uniform, batch or degree "
                         "(default: %(default)s)")
    be.add_argument("--device", type=_text, default="auto", help="auto, cpu or cuda (default: %(default)s)")
    be.add_argument("--deterministic", action="store_true",
                    help="train with torch.use_deterministic_algorithms, to measure what --deterministic costs")
    be.add_argument("--output", type=_text, default="bench.json", help="JSON results file (default: %(default)s)")
    be.set_defaults(func=cmd_bench)
    return p


class _StartupTerminated(KeyboardInterrupt):
    """SIGTERM before `naomi_nb.runtime` (and its ``Terminated``) is imported."""


def _terminate(signum, frame):
    runtime = sys.modules.get(f"{__package__}.runtime")
    raise runtime.Terminated if runtime is not None else _StartupTerminated


def _by_sigterm(err: KeyboardInterrupt) -> bool:
    runtime = sys.modules.get(f"{__package__}.runtime")
    return isinstance(err, _StartupTerminated) or (runtime is not None and isinstance(err, runtime.Terminated))


def _signal_in(err: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM an error was raised while unwinding from (a cleanup that failed because the
    signal had cut an import short), or None."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return err
        seen.add(id(err))
        err = err.__context__
    return None


def _resend_dropped_signals(hook):
    """An unraisable-exception hook: Python drops an exception raised inside a finalizer or a weakref
    callback (where a signal handler may land), so a Ctrl-C or SIGTERM raised there is sent again a moment
    later (from another thread: sent from here it would land here again), to land in the main code; anything
    else goes to ``hook``."""
    def handle(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            again = signal.SIGTERM if _by_sigterm(unraisable.exc_value) else signal.SIGINT
            timer = threading.Timer(0.05, os.kill, (os.getpid(), again))
            timer.daemon = True
            timer.start()
        else:
            hook(unraisable)
    return handle


def main(argv=None) -> int:
    """Exit codes: 0 done, 1 the loss became NaN, 2 a one-line error (bad input, a run directory in use or
    from another graph, not enough memory, a disk that is full or read-only), 130 Ctrl-C, 143 SIGTERM."""
    # SIGTERM unwinds like Ctrl-C from the first line (so temporaries are removed); as a script the start-up
    # handlers (`_startup_signal`) stay until the command starts
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main_thread else None
    script = main_thread and previous is _startup_signal
    if main_thread and not script:
        signal.signal(signal.SIGTERM, _terminate)
    unraisable = sys.unraisablehook
    if main_thread:
        sys.unraisablehook = _resend_dropped_signals(unraisable)
    try:
        try:
            return _run(argv, script)
        except Exception as err:  # an error raised while unwinding from a signal is that signal
            stop = _signal_in(err)
            if stop is None:
                raise
            raise stop from None
    except KeyboardInterrupt as err:  # during start-up, or anywhere a command lets it through
        sigterm = _by_sigterm(err)
        print("terminated (SIGTERM)" if sigterm else "interrupted", file=sys.stderr)
        return 143 if sigterm else 130
    finally:
        if main_thread:
            sys.unraisablehook = unraisable
            if script:  # the command has ended, its files written: a signal now changes nothing, and the exit
                # code stays the command's (the default action would make it -15, a handler a traceback)
                for s in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(s, signal.SIG_IGN)
            else:
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _run(argv, script: bool) -> int:
    args = build_parser().parse_args(argv)
    from .analysis import AnalysisError
    from .files import WriteError
    from .graph import GraphError
    from .memory import NotEnoughMemory
    from .rundir import RunDirError
    from .wordnet import WordNetNotFound

    if script:  # started: Ctrl-C and SIGTERM now unwind, and the training loop installs its own handlers
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except (ConfigError, GraphError, RunDirError, WordNetNotFound, AnalysisError, WriteError, NotEnoughMemory) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
