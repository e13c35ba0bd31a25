"""The `derain` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .paths import BUILD_DIR, FIGURES_DIR, shown_path
from .presets import DEFAULT_DROP_STYLE, DROP_STYLES, EXPERIMENTS, FLIP_SETS, PRECISIONS, RECIPES, REPAINTS, RUN_SIZE

SHEET_PHOTOS = 8  # rows of `derain predict --sheet`


def _check_data(args) -> int:
    from .data.pairs import DataError, check_dataset

    try:
        report = check_dataset(args.path, args.split, progress=not args.quiet)
    except DataError as err:
        print(f"derain check-data: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(report.describe())
    return 0 if report.ok else EXIT_PROBLEMS


def _synth(args) -> int:
    import json

    from .data.synthetic import MANIFEST, write_synthetic_dataset

    out = write_synthetic_dataset(
        args.out, args.clean, n=args.n, size=args.size, seed=args.seed, n_test=args.n_test, overwrite=args.overwrite
    )
    counts = json.loads((out / MANIFEST).read_text())["pairs"]
    print(f"wrote {counts['train']} train and {counts['test_a']} test_a pairs to {out}")
    return 0


def _refuse_existing(paths: list[Path], overwrite: bool, option: str = "--out") -> None:
    """Checked before the work starts, so a long run never ends in a refusal."""
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]} exists; pass --overwrite to replace it, or choose another {option}")


def _sheet(args) -> int:
    from .course.figures import figure_paths, pair_sheet, save_figure
    from .data.images import read_rgb
    from .data.pairs import find_pairs
    from .evaluation.analysis import difference_map

    out = Path(args.out)
    _refuse_existing(figure_paths(out.stem, out.parent), args.overwrite)
    pairs = find_pairs(args.path, args.split)[: args.n]
    rows = []
    for pair in pairs:
        rain, clean = pair.load()
        third = read_rgb(pair.mask) if pair.mask else difference_map(rain, clean)
        rows.append((rain, clean, third))
    titles = ("rainy", "clean", "drop mask" if pairs[0].mask else "|rainy - clean| x4")
    fig = pair_sheet(rows, titles, [p.rain.name for p in pairs])
    paths = save_figure(fig, out.stem, out.parent)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


# Each option of `derain train` and the configuration fields it sets: what --resume
# compares with the run it continues.
_TRAIN_FIELDS = {"--experiment": ("experiment",), "--profile": ("profile",), "--data": ("data",), "--seed": ("seed",),
                 "--precision": ("precision",), "--channels-last": ("channels_last",), "--drop-style": ("drop_style",),
                 "--extra-photos": ("extra_photos",), "--init-from": ("init_from",), "--real-pairs": ("real_pairs",),
                 "--drop-free": ("drop_free_share",), "--residual": ("generator_options",), "--repaint": ("generator_options",),
                 "--dark-weight": ("dark_weight",), "--ema": ("ema",)}


def _train(args) -> int:
    from dataclasses import replace

    from .presets import make_config
    from .training import distributed
    from .training.trainer import resumed_config, saved_run, train

    data = args.data or "synthetic"
    if (args.extra_photos or args.drop_style or args.real_pairs or args.drop_free) and data != "synthetic":
        raise ValueError("--extra-photos, --drop-style, --real-pairs and --drop-free shape the synthetic data; they do not apply to --data FOLDER")
    recipe = dict(RECIPES[args.preset]) if args.preset else {}
    experiment, profile = recipe.pop("experiment", None), recipe.pop("profile", None)
    if args.profile and args.profile != profile:  # a recipe's run size is its profile's; another profile keeps its own
        recipe = {k: v for k, v in recipe.items() if k not in RUN_SIZE}
    if args.preset and args.experiment not in (None, experiment):
        raise ValueError(f"--preset {args.preset} trains experiment {experiment}; leave out --experiment {args.experiment}")
    saved, done = saved_run(args.out) if args.resume else (None, 0)
    experiment = experiment or args.experiment or (saved.experiment if saved else None)
    if not experiment:
        raise ValueError("name an --experiment (or a --preset)")
    given = dict(data=data, epochs=args.epochs, seed=args.seed, precision=args.precision,
                 channels_last=args.channels_last or None, drop_style=args.drop_style,
                 extra_photos=_absolute(args.extra_photos), init_from=_absolute(args.init_from), real_pairs=_absolute(args.real_pairs),
                 drop_free_share=args.drop_free, dark_weight=args.dark_weight, ema=args.ema)
    config = make_config(experiment, args.profile or profile or (saved.profile if saved else "cpu"),
                         **{**recipe, **{k: v for k, v in given.items() if v is not None}})
    if args.residual:
        if config.generator != "unet":
            raise ValueError("--residual applies to the U-Net generator of pix2pix and stabilized")
        config = replace(config, generator_options={**config.generator_options, "residual": True})
    if args.repaint and args.repaint != "correction":
        if config.generator != "attentive":
            raise ValueError("--repaint applies to the generator of experiment 4 (--experiment attentive)")
        config = replace(config, generator_options={**config.generator_options, "repaint": args.repaint})
    if args.resume:
        typed = {option: fields for option, fields in _TRAIN_FIELDS.items()
                 if getattr(args, option[2:].replace("-", "_")) not in (None, False)}
        if args.preset:
            typed[f"--preset {args.preset}"] = ("experiment", "profile", *(k for k in RECIPES[args.preset] if k not in ("experiment", "profile", "epochs")))
        config = resumed_config(args.out, saved, done, config, typed, args.epochs)
    signal_to_interrupt()
    try:
        history = train(config, args.out, resume=args.resume, overwrite=args.overwrite, device=args.device)
    finally:
        distributed.leave()
    if not distributed.main_process():  # rank 0 of a torchrun launch validates and prints
        return 0
    last = history["epochs"][-1]
    print(f"{config.experiment} ({config.profile}) after {last['epoch']} epochs on held-out images: "
          f"PSNR {last['val_psnr_rgb']:.2f} dB, SSIM {last['val_ssim_rgb']:.4f} (rgb); "
          f"doing nothing: PSNR {last['input_psnr_rgb']:.2f} dB, SSIM {last['input_ssim_rgb']:.4f}")
    print(f"run files in {args.out}: checkpoint.pt, history.json, history.csv, derain-run.json")
    return 0


def _absolute(path: str | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else None


def _ablate(args) -> int:
    from .course.ablation import ROWS, ablation_table, run_ablation
    from .presets import ABLATION_EPOCHS, make_config

    unknown = [r for r in args.rows if r not in ROWS]
    if unknown:
        raise ValueError(f"unknown ablation row {unknown[0]!r}; rows: {', '.join(ROWS)}")
    rows = {name: ROWS[name] for name in (["default"] + [r for r in args.rows if r != "default"] if args.rows else ROWS)}
    signal_to_interrupt()
    results = run_ablation(make_config("attentive", args.profile, data=args.data, seed=args.seed), Path(args.out),
                           args.epochs or ABLATION_EPOCHS[args.profile], args.device, rows=rows)
    print(ablation_table(results))
    return 0


def _evaluate(args) -> int:
    from .data.pairs import DataError
    from .evaluation.metrics import PROTOCOLS
    from .evaluation.scoring import evaluate, evaluation_paths, summary_lines, write_evaluation

    if args.out:
        _refuse_existing(evaluation_paths(args.out), args.overwrite)
    if args.no_model and args.checkpoint:
        raise ValueError("--no-model scores doing nothing only; leave out --checkpoint, or --no-model")
    chain = None if args.no_model else _chain(args)
    if chain is not None:
        print(chain.describe())
    protocols = PROTOCOLS if args.protocol == "all" else (args.protocol,)
    signal_to_interrupt()
    try:
        result = evaluate(args.data, args.split, chain, protocols, crop=args.crop, tile=args.tile)
    except DataError as err:
        print(f"derain evaluate: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    print("\n".join(summary_lines(result)))
    if args.out:
        paths = write_evaluation(result, args.out)
        print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _predict(args) -> int:
    from .evaluation.prediction import predict

    sheet = Path(args.sheet) if args.sheet else None
    if sheet is not None:
        _refuse_existing(_sheet_paths(sheet, args.inputs), args.overwrite, "--sheet")
    chain = _chain(args)
    print(chain.describe())
    signal_to_interrupt()
    written, skipped = predict(chain, args.inputs, args.out, overwrite=args.overwrite, resume=args.resume,
                               tile=args.tile, overlap=args.overlap)
    print(f"wrote {len(written)} image(s) to {args.out}" + (f"; skipped {len(skipped)} unreadable file(s)" if skipped else ""))
    if sheet is not None:
        print("wrote " + ", ".join(str(p) for p in _prediction_sheet(args.inputs, args.out, sheet)))
    return EXIT_PROBLEMS if skipped else 0


def _chain(args):
    """The models --checkpoint names, or the shipped model for real photos when none is named."""
    from .evaluation.chain import load_chain
    from .evaluation.shipped import shipped_model

    checkpoints = args.checkpoint or [str(shipped_model())]
    if not args.checkpoint:
        args.checkpoint = checkpoints  # --scales typed alone then go with the shipped model
    return load_chain(checkpoints, _scales_per_model(args), args.device, args.flips)


def _export(args) -> int:
    from .evaluation.shipped import export_model, sha256

    out = Path(args.out)
    _refuse_existing([out], args.overwrite)
    path = export_model(args.source, out, args.scales or (1.0,), args.flips)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, sha256 {sha256(path)})")
    return 0


def _sheet_paths(sheet: Path, inputs: list[str]) -> list[Path]:
    """The files --sheet writes, refused when one of them is an input."""
    from .course.figures import figure_paths
    from .evaluation.prediction import collect_inputs

    paths = figure_paths(sheet.stem, sheet.parent)
    sources = {f.resolve() for f in collect_inputs(inputs)}
    clash = [p for p in paths if p.resolve() in sources]
    if clash:
        raise FileExistsError(f"{clash[0]} is an input; choose another --sheet (inputs are never overwritten)")
    return paths


def _prediction_sheet(inputs: list[str], out_dir: str, sheet: Path) -> list[Path]:
    """The first SHEET_PHOTOS photos, each beside its derained copy."""
    from .course.figures import pair_sheet, save_figure
    from .data.images import read_rgb
    from .evaluation.prediction import collect_inputs, output_path

    shown = [(f, output_path(f, Path(out_dir))) for f in collect_inputs(inputs)]
    shown = [(f, t) for f, t in shown if t.exists()][:SHEET_PHOTOS]  # an unreadable input has no output
    fig = pair_sheet([(read_rgb(f), read_rgb(t)) for f, t in shown], ("photo", "derained"), [f.name for f, _ in shown])
    return save_figure(fig, sheet.stem, sheet.parent)


def _reproduce(args) -> int:
    from .course.reproduce import ReproduceError, reproduce

    def absolute(path: str) -> str:  # paths typed in a shell are relative to where it stands
        return str(Path(path).expanduser().resolve()) if path else ""

    data = args.data if args.data == "synthetic" else absolute(args.data)
    signal_to_interrupt()
    try:
        reproduce(profile=args.profile, data=data, seed=args.seed, device=args.device, precision=args.precision or "",
                  figures_dir=absolute(args.figures_dir), runs_dir=absolute(args.runs_dir))
    except ReproduceError as err:
        print(f"derain reproduce: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    print("build the HTML report with: derain report")
    return 0


def _report(args) -> int:
    from .course.report import build_report, publish_results

    metrics = Path(args.metrics).resolve()
    out = build_report(metrics_path=metrics, out_dir=Path(args.out), notebooks_dir=Path(args.notebooks))
    print(f"wrote {out}")
    if metrics == (FIGURES_DIR / "metrics.json").resolve():  # the committed numbers: refresh their committed text
        changed = publish_results(metrics)
        print("updated " + ", ".join(shown_path(p) for p in changed) if changed else "report/report.md and README.md already agree with the metrics")
    return 0


def signal_to_interrupt() -> None:
    """SIGTERM (a scheduler, `kill`) stops like Ctrl-C: the last finished epoch is on disk."""
    import signal

    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _bench(args) -> int:
    import torch

    from .bench import bench_decoding, bench_renderer, bench_training

    if args.decode:
        bench_decoding(args.decode)
    elif args.training:
        if args.threads:
            torch.set_num_threads(args.threads)
        bench_training(args.training, args.profile, device=args.device)
    else:
        bench_renderer(size=args.size, batch=args.batch, pairs=args.pairs, threads=args.threads or 1, style=args.drop_style)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="derain", description="Remove water drops from camera lenses with GANs.")
    parser.add_argument("--version", action="version", version=f"derain {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check-data", help="check a paired dataset: pair counts, sizes and every problem")
    p.add_argument("path", help="a Raindrop folder (train/, test_a/, test_b/), one split, or a rain/ + clean/ folder")
    p.add_argument("--split", help="check only this split")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_check_data)

    p = sub.add_parser("synth", help="render a synthetic paired dataset in the Raindrop layout")
    p.add_argument("--clean", default="default", help="'default' (photos shipped with scikit-image and matplotlib) or a folder of clean photos")
    p.add_argument("--out", required=True, help="output folder (must be empty, or an earlier synth output with --overwrite)")
    p.add_argument("--n", type=_positive, default=256, help="training pairs (default 256)")
    p.add_argument("--n-test", type=_positive, default=None, help="test_a pairs from held-out photos (default n/8)")
    p.add_argument("--size", type=_positive, default=256, help="side of the square images (default 256)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an earlier derain synth output in --out")
    p.set_defaults(run=_synth)

    p = sub.add_parser("sheet", help="save a sheet of pairs (rainy | clean | mask or difference) as PNG and PDF")
    p.add_argument("path", help="a paired dataset folder")
    p.add_argument("--out", required=True, help="output file; .png and .pdf are written")
    p.add_argument("--split", help="split to draw from (default: all)")
    p.add_argument("--n", type=_positive, default=8, help="pairs to show (default 8)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing sheet")
    p.set_defaults(run=_sheet)

    p = sub.add_parser("train", help="train one experiment of the report, or experiment 4 (attentive)")
    p.add_argument("--experiment", choices=EXPERIMENTS)
    p.add_argument("--preset", choices=tuple(RECIPES),
                   help="a whole recipe: real-photos trains the shipped model for real photos (docs/model.md); "
                        "with another --profile, that profile's crop size, batch and epochs")
    p.add_argument("--data", help="'synthetic' (default) or a folder of pairs (Raindrop or rain/ + clean/)")
    p.add_argument("--profile", choices=("smoke", "cpu", "paper"), help="run size (default cpu, or the preset's)")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, history.json, history.csv, derain-run.json")
    p.add_argument("--epochs", type=_positive, help="override the profile's number of epochs (with --resume: extend the run)")
    p.add_argument("--seed", type=_seed)
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last finished epoch, with its own settings and epochs")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in --out (a folder derain train made); the old run stays until the new one's "
                        "first epoch is saved")
    _device_option(p)
    _precision_option(p)
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--extra-photos", metavar="FOLDER",
                   help="a folder of your own clean photos (subfolders too) added to the embedded training photos")
    p.add_argument("--drop-style", choices=DROP_STYLES,
                   help="the renderer's style for synthetic pairs (default lens: spherical-cap drops and specks, closest to real lens drops; crisp: small sharp drops with dark rims; soft: larger, defocused, rimless drops under haze; docs/data.md)")
    p.add_argument("--residual", action="store_true",
                   help="U-Net predicts a correction added to the rainy input (not the report's model; docs/training.md)")
    p.add_argument("--repaint", choices=REPAINTS,
                   help="experiment 4's repaint inside the drops: an unbounded correction (default) or a fill mixed from "
                        "the pixels around, which never leaves their colours (for --drop-style lens-dim; docs/training.md)")
    p.add_argument("--dark-weight", type=_weight, metavar="W",
                   help="an output pixel darker than the clean one counts 1 + W times in the L1 (default 0), so that "
                        "an unsure repaint errs towards light rather than dark blotches (docs/training.md)")
    p.add_argument("--ema", type=_decay, metavar="DECAY",
                   help="score, save and ship a moving average of the generator's weights, e.g. 0.999 (default: "
                        "off, the last step's weights); a GAN's weights wander, their average does not (docs/training.md)")
    p.add_argument("--real-pairs", metavar="FOLDER",
                   help="a folder of real pairs whose training frames are mixed into the rendered ones (about a quarter "
                        "of each epoch); its validation frames stay out, for `derain evaluate --split val`")
    p.add_argument("--drop-free", type=_share, metavar="SHARE",
                   help="about this share of each epoch's crops carry no drops, to teach leaving a picture alone "
                        "(with --real-pairs, half of them are their clean frames; docs/training.md)")
    p.add_argument("--init-from", metavar="RUN",
                   help="start from the weights of a finished run (folder or checkpoint.pt) of the same experiment and "
                        "profile, e.g. one trained on synthetic drops, to fine-tune it on --data")
    p.set_defaults(run=_train)

    p = sub.add_parser("ablate", help="experiment 4 with one idea changed per row, every row trained alike")
    p.add_argument("--out", required=True, help="folder of the rows' runs; finished rows are reused, an interrupted one resumed")
    p.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "paper"), help="run size (default cpu)")
    p.add_argument("--epochs", type=_positive, help="epochs of every row (default: the profile's ablation budget)")
    p.add_argument("--data", default="synthetic", help="'synthetic' (default) or a folder of pairs")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--rows", nargs="+", default=[], metavar="ROW", help="only these rows (quoted names), beside the default")
    _device_option(p)
    p.set_defaults(run=_ablate)

    p = sub.add_parser("evaluate", help="full-resolution PSNR/SSIM of a model and of doing nothing on real pairs")
    _checkpoint_option(p)
    p.add_argument("--no-model", action="store_true", help="score doing nothing only")
    p.add_argument("--data", required=True, help="a Raindrop folder, one of its splits, or a rain/ + clean/ folder")
    p.add_argument("--split", help="e.g. test_a, or val: the pairs `derain train --data` held out (default: every split)")
    p.add_argument("--protocol", default="all", choices=("all", "rgb", "y-basicsr", "y-opencv"), help="default: all three")
    p.add_argument("--crop", type=_non_negative, default=0, help="border pixels left out on each side (default 0)")
    p.add_argument("--tile", type=_positive, default=1024, help="largest side restored in one piece (default 1024)")
    _scales_option(p)
    _flips_option(p)
    p.add_argument("--out", help="write OUT.json and OUT.csv (per image and means)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT.json / OUT.csv")
    _device_option(p)
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("predict", help="derain photos or folders of photos at their own size")
    p.add_argument("inputs", nargs="+", help="image files and/or folders of images (png, jpg, jpeg)")
    _checkpoint_option(p)
    p.add_argument("--out", required=True, help="output folder: one PNG per input, named after it")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")
    p.add_argument("--resume", action="store_true", help="keep the outputs an interrupted run wrote; derain the rest")
    p.add_argument("--sheet", help=f"also write SHEET.png and .pdf: the first {SHEET_PHOTOS} photos, each beside its "
                                   "derained copy")
    p.add_argument("--tile", type=_positive, default=512, help="tile side for large images (default 512)")
    p.add_argument("--overlap", type=_non_negative, default=64, help="overlap of neighbouring tiles, blended (default 64)")
    _scales_option(p)
    _flips_option(p)
    _device_option(p)
    p.set_defaults(run=_predict)

    p = sub.add_parser("export", help="a finished run's generator as a model file, for predict and evaluate")
    p.add_argument("source", metavar="RUN", help="a run folder or its checkpoint.pt")
    p.add_argument("--out", required=True, help="the model file to write (.pt)")
    p.add_argument("--scales", type=_scales, help="the scales the model runs at unless told otherwise (default 1)")
    p.add_argument("--flips", choices=FLIP_SETS, default="none",
                   help="the self-ensemble it runs with unless told otherwise (default none)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(run=_export)

    p = sub.add_parser("reproduce", help="execute every notebook with papermill: every figure and figures/metrics.json")
    p.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "paper"), help="run size (default cpu)")
    p.add_argument("--data", default="synthetic", help="'synthetic' (default) or a folder of pairs")
    p.add_argument("--seed", type=_seed, default=0)
    _device_option(p)
    p.add_argument("--figures-dir", default="", help="where figures and metrics.json go (default figures/)")
    p.add_argument("--runs-dir", default="", help="where training runs go (default build/runs/PROFILE)")
    _precision_option(p)
    p.set_defaults(run=_reproduce)

    p = sub.add_parser("report", help="fill the report and README's results in from metrics.json, and build the report to HTML")
    p.add_argument("--metrics", default=str(FIGURES_DIR / "metrics.json"), help="metrics.json beside the figures (default figures/)")
    p.add_argument("--out", default=str(BUILD_DIR / "report"), help="output folder (default build/report)")
    p.add_argument("--notebooks", default=str(BUILD_DIR / "notebooks"),
                   help="executed notebooks exported to HTML beside the report (default build/notebooks, where reproduce writes them)")
    p.set_defaults(run=_report)

    p = sub.add_parser("bench", help="measure the drop renderer's or a training step's throughput")
    p.add_argument("--size", type=_positive, default=256)
    p.add_argument("--batch", type=_positive, default=32)
    p.add_argument("--pairs", type=_positive, default=512, help="pairs to render in the timed part")
    p.add_argument("--threads", type=_positive,
                   help="torch CPU threads (default: 1 for the renderer, every core for --training)")
    p.add_argument("--training", choices=EXPERIMENTS,
                   help="time this experiment's training step instead of the renderer: the default path, the plain "
                        "fp32 step and the original pix2pix recipe, with the CPU's capability")
    p.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "paper"), help="profile of --training (default cpu)")
    p.add_argument("--device", default="auto", help="device of --training: auto, cpu or cuda")
    p.add_argument("--decode", metavar="FOLDER", help="time decoding the images of FOLDER: Pillow against torchvision")
    p.add_argument("--drop-style", default=DEFAULT_DROP_STYLE, choices=DROP_STYLES, help=f"the renderer's style to time (default {DEFAULT_DROP_STYLE})")
    p.set_defaults(run=_bench)
    return parser


def _precision_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="auto (default): bf16 autocast where the CPU or GPU computes it natively, else fp32; "
                             "bf16 on a CPU without it falls back to fp32 (it would be about 16x slower)")


def _device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")


def _checkpoint_option(p) -> None:
    p.add_argument("--checkpoint", action="append",
                   help="a run folder, its checkpoint.pt or a model file (`derain export`); without it, the shipped model "
                        "for real photos (docs/model.md). Give it again to run models one after another, each on the "
                        "last one's output")


def _flips_option(p) -> None:
    p.add_argument("--flips", choices=FLIP_SETS,
                   help="average each model's outputs over flipped copies of the input: none, h (with its mirror "
                        "image: twice the time) or hv (four flips: four times); default: the model's own (the "
                        "shipped model's: h; a run's: none)")


def _scales_option(p) -> None:
    p.add_argument("--scales", type=_scales, action=_ScalesAfterCheckpoint, metavar="S[,S...]",
                   help="passes of the model, each on the last one's output, at these fractions of the size; "
                        "1,0.5 also reaches drops twice as large as the training drops (default: the model's own, "
                        "1 for a run). After a "
                        "--checkpoint it is that model's; before every --checkpoint, every model's")


class _ScalesAfterCheckpoint(argparse.Action):
    """Records how many --checkpoint options came before each --scales, so that the
    scales typed after a checkpoint go with that model."""

    def __call__(self, parser, namespace, values, option_string=None):
        typed = getattr(namespace, self.dest) or []
        setattr(namespace, self.dest, typed + [(len(getattr(namespace, "checkpoint", None) or []), values)])


def _scales_per_model(args) -> list[tuple[float, ...] | None]:
    """The scales typed for each checkpoint; None where none were: that model's own."""
    own: dict[int, tuple[float, ...]] = {}
    for after, scales in args.scales or []:
        if after in own:
            where = f"--checkpoint {args.checkpoint[after - 1]}" if after else "every --checkpoint"
            raise ValueError(f"--scales given twice for {where}")
        own[after] = scales
    return [own.get(i + 1, own.get(0)) for i in range(len(args.checkpoint))]


def _scales(text: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1,0.5, got {text!r}") from None
    bad = [s for s in scales if not 0 < s <= 1]
    if bad:
        raise argparse.ArgumentTypeError(f"scale {bad[0]:g} in {text!r}: every scale must lie in (0, 1]")
    return scales


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or a positive integer, got {text}")
    return value


def _weight(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a weight of 0 or more, got {text}")
    return value


def _decay(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a decay from 0 up to (not including) 1, such as 0.999, got {text}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {2**32 - 1}, got {text}")
    return value


# Exit codes (docs/cli.md): 0 done; 1 done, but problems were found (check-data) or files
# skipped (predict); 2 an error stopped the command, with one line saying why; 130 interrupted.
EXIT_PROBLEMS, EXIT_ERROR, EXIT_INTERRUPTED = 1, 2, 130


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, FileExistsError, ValueError, ArithmeticError) as err:  # ArithmeticError: a diverged run
        print(f"derain {args.command}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as err:  # a full disk, a read-only folder, a device that is not there
        print(f"derain {args.command}: error: {_os_error(err)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"derain {args.command}: interrupted{_interrupted_hint(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _os_error(err: OSError) -> str:
    """One line for an error of the system, with what to do about the common ones."""
    import errno

    where = f"{err.filename}: " if err.filename else ""
    what = err.strerror or str(err)
    advice = {errno.ENOSPC: "free some space, or write somewhere else",
              errno.EACCES: "choose a folder you can write to", errno.EROFS: "choose a folder you can write to",
              errno.EPERM: "choose a folder you can write to"}.get(err.errno)
    return where + what + (f"; {advice}" if advice and advice not in what else "")


def _interrupted_hint(args) -> str:
    if args.command == "train":
        from .training.checkpoints import CHECKPOINT

        if args.resume or (Path(args.out) / CHECKPOINT).is_file():
            return "; continue with --resume"
        return " before its first epoch was saved; nothing to resume: run it again"
    return {"reproduce": "; run it again to continue the interrupted training", "predict": "; continue with --resume",
            "ablate": "; run it again to continue"}.get(args.command, "")


if __name__ == "__main__":
    sys.exit(main())
