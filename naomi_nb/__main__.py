"""Command line: ``python -m naomi_nb {prepare-wordnet,train,analyze,export,bench}``."""
from __future__ import annotations

import argparse
import sys
import time

from . import record as R
from .config import ConfigError, add_train_arguments, config_from_args
from .dims import SATURATED_SHARE


def _num(x: float) -> str:
    """Four decimals as the seed prints them; tiny non-zero values in scientific notation instead of 0.0000."""
    return f"{x:.4f}" if x == 0 or abs(x) >= 1e-4 else f"{x:.1e}"


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
        say(f"  Train - Total: {_num(r['train_total'])}, Distance: {_num(r['train_distance'])}, "
            f"Sparsity: {_num(r['train_sparsity'])}")
        say(f"  Val   - Total: {_num(r['val_total'])}, Distance: {_num(r['val_distance'])}, "
            f"Sparsity: {_num(r['val_sparsity'])}")
        say(f"  Sparsity: {r['sparsity_pct']:.1f}% (target: 40-70%)")
        say(f"  Exact zeros: {r['zeros_pct']:.1f}%, active dims per word: {r['active_per_word']:.0f} "
            f"of {r['dims_before']} (median)")
        say(f"  Time: {r['seconds']:.2f} s ({r['edges_per_s'] / 1e6:.2f}M edges/s)")
        for e in (x for x in r["events"] if x["type"] == "oom"):
            say(f"  Out of memory: batch size halved {e['old_batch']} -> {e['new_batch']}, step retried")
        if "nan" in events:
            say(f"\n[Stopped] Loss became NaN at epoch {r['epoch']}; keeping the best model "
                f"(epoch {events['nan']['best_epoch']})")
            return
        if "expand" in events:
            e = events["expand"]
            say(f"\n[Epoch {r['epoch']}] Adding {e['new_dims'] - e['old_dims']} dimensions "
                f"({e['old_dims']} -> {e['new_dims']})")
            say(f"[Epoch {r['epoch']}] Dimension Statistics:")
            say(f"  Total dimensions: {e['new_dims']}")
            s = e["stats"]
            say(f"  Before expansion: {s['saturated']} of {e['old_dims']} saturated (active in >= "
                f"{self.saturation:.0%} of words; expansion needs {SATURATED_SHARE:.0%}); bands: {s['dense']} dense "
                f"(>=70%), {s['moderate']} moderate (30-70%), {s['sparse']} sparse (10-30%), {s['unused']} unused (<10%)")
            if "batch" in events:
                say(f"  Adapted batch size to {events['batch']['batch_size']} for {events['batch']['dims']} dimensions")
            if events["optimizer"]["mode"] == "reset":
                say("  Reinitialized optimizer with new dimensions")
            else:
                say("  Carried optimizer state over to the new dimensions (new columns start at zero moments)")
            if "max_dims" in events:
                say(f"  Maximum dimensions reached ({events['max_dims']['dims']})")
        if r["best"]:
            say(f"  New best model! (val_loss: {_num(r['val_total'])})")
        elif r["bad_epochs"]:
            say(f"  No improvement for {r['bad_epochs']} epochs")
        if "early_stop" in events:
            e = events["early_stop"]
            say(f"\n[Early Stopping] No improvement for {r['bad_epochs']} epochs")
            say(f"[Early Stopping] Best validation loss: {_num(e['best_val'])}")
            say(f"[Early Stopping] Stopping training at epoch {r['epoch']}")


def cmd_prepare(args) -> int:
    from .wordnet import prepare_wordnet

    prepare_wordnet(args.output, wordnet_dir=args.wordnet_dir, progress=not args.no_progress)
    return 0


def cmd_train(args) -> int:
    from .trainer import train

    from .report import analyze_result

    cfg = config_from_args(args)
    printer = LogPrinter(saturation_threshold=cfg.saturation_threshold)
    t0 = time.perf_counter()
    result = train(cfg, callbacks=[printer], resume=args.resume, log=printer.say, progress=True)
    if cfg.analyze:  # --no-analyze also with --resume (the resumed run's config.json keeps its own value)
        analyze_result(result, log=printer.say)
    m = result.metrics
    printer.say(f"\nTraining completed in {(time.perf_counter() - t0) / 60:.1f} minutes")
    printer.say(f"  {m['epochs_run']} epochs, best validation loss {_num(m['best_val'])} at epoch {m['best_epoch']}, "
                f"{m['final_dims']} dimensions, {m['seconds_per_epoch'] or 0:.2f} s per epoch (median)")
    printer.say(f"  Run directory: {result.run_dir}")
    if m["stopped"] == "nan":
        print(f"error: loss became NaN at epoch {m['nan_epoch']}; the best model (epoch {m['best_epoch']}) "
              f"is kept in {result.run_dir}", file=sys.stderr)
        return 1
    if m["stopped"] == "interrupted":
        return 130
    return 0


def cmd_analyze(args) -> int:
    from .report import analyze_run

    analyze_run(args.run_dir)
    return 0


def cmd_export(args) -> int:
    from pathlib import Path

    from .export import export_word2vec
    from .rundir import EMBEDDINGS, RunDirError, load_embeddings, load_vocabulary

    run = Path(args.run_dir)
    emb = load_embeddings(run / EMBEDDINGS)  # refuses a missing, damaged or non-finite matrix in one line
    vocab = load_vocabulary(run)
    if vocab.size != emb.shape[0]:
        raise RunDirError(f"{run}: embeddings.npy has {emb.shape[0]:,} rows for {vocab.size:,} senses")
    out = args.output or str(run / f"embeddings.{args.per}.w2v.txt")
    export_word2vec(emb, vocab, out, per=args.per)
    print(f"wrote {out}")
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench

    run_bench(args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m naomi_nb", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    prep = sub.add_parser("prepare-wordnet", help="build the sense-level WordNet training graph")
    prep.add_argument("--output", default="data/wordnet_training", help="graph directory to write (default: %(default)s)")
    prep.add_argument("--wordnet-dir", default=None,
                      help="a WordNet 3.0 dict directory to use (default: NLTK's data, then /usr/share/wordnet, "
                           "then nltk.download; also $NAOMI_NB_WORDNET_DIR)")
    prep.add_argument("--no-progress", action="store_true", help="no progress bars")
    prep.set_defaults(func=cmd_prepare)

    tr = sub.add_parser("train", help="train embeddings (the seed's flags and defaults)")
    add_train_arguments(tr)
    tr.add_argument("--resume", default=None, metavar="RUN_DIR",
                    help="continue a run from its last checkpoint (its config is reused; --epochs, --patience "
                         "and --device may be changed)")
    tr.set_defaults(func=cmd_train)

    an = sub.add_parser("analyze", help="write report.json and figures for a run")
    an.add_argument("run_dir")
    an.set_defaults(func=cmd_analyze)

    ex = sub.add_parser("export", help="write a run's embeddings in word2vec text format")
    ex.add_argument("run_dir")
    ex.add_argument("--per", choices=["sense", "word"], default="sense",
                    help="one vector per sense, or per word (mean of its senses) (default: %(default)s)")
    ex.add_argument("--output", default=None, help="output file (default: RUN_DIR/embeddings.PER.w2v.txt)")
    ex.set_defaults(func=cmd_export)

    be = sub.add_parser("bench", help="measure seconds per epoch and edges/s on the full graph")
    be.add_argument("--training-data", default="data/wordnet_training", help="graph directory (default: %(default)s)")
    be.add_argument("--dims", default="128,512", help="comma-separated widths (default: %(default)s)")
    be.add_argument("--batch-size", type=int, default=262144, help="edges per step (default: %(default)s)")
    be.add_argument("--epochs", type=int, default=5, help="epochs per setting, the first counts compile/warm-up "
                                                         "(default: %(default)s)")
    be.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    be.add_argument("--output", default="bench.json", help="JSON results file (default: %(default)s)")
    be.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .analysis import AnalysisError
    from .rundir import RunDirError
    from .graph import GraphError
    from .wordnet import WordNetNotFound

    try:
        return args.func(args)
    except (ConfigError, GraphError, RunDirError, WordNetNotFound, AnalysisError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
