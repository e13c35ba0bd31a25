"""The experiments of the report and the profiles they run at, in one place.

An experiment fixes what the report compares (networks, losses, learning rates, label
tricks); a profile fixes how big the run is: ``paper`` is the report's setting, ``cpu`` a
reduced but real run that trains on a 2-core laptop in minutes, ``smoke`` a seconds-long
run for tests and nbval. Experiment 4 (``attentive``) goes beyond the report: a drop mask,
blending, drop-weighted L1 and augmentation (see models/attentive.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace

EXPERIMENTS = ("baseline", "pix2pix", "stabilized", "attentive")
PROFILES = ("smoke", "cpu", "paper")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # see training/precision.py
DROP_STYLES = ("crisp", "soft", "lens", "lens-dim")  # the renderer's styles, lensdrops.STYLES
# The style of the embedded default: the closest to real lens drops (docs/data.md#drop-styles).
DEFAULT_DROP_STYLE = "lens"
FLIP_SETS = ("none", "h", "hv")  # inference's self-ensembles, evaluation/inference.FLIPS
REPAINTS = ("correction", "fill")  # what experiment 4's head writes inside the drops, models/attentive.py


@dataclass(frozen=True)
class TrainConfig:
    experiment: str
    profile: str
    generator: str
    generator_options: dict = field(default_factory=dict)
    discriminator: str = "patchgan"
    discriminator_options: dict = field(default_factory=dict)
    image_size: int = 256
    batch_size: int = 16
    epochs: int = 200
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas_g: tuple[float, float] = (0.5, 0.999)
    betas_d: tuple[float, float] = (0.5, 0.999)
    l1_weight: float = 100.0
    adv_weight: float = 1.0  # weight of the adversarial term in the generator's loss
    drop_weight: float = 0.0  # extra L1 weight on drop pixels: their L1 counts 1 + drop_weight times
    dark_weight: float = 0.0  # extra L1 weight where the output is darker than the target: it counts 1 + dark_weight times
    mask_weight: float = 0.0  # BCE weight of the drop-mask (attention) supervision
    contrast_weight: float = 0.0  # contrastive regulariser: towards the clean target, away from the rainy input
    mask_threshold: int = 0  # drop pixels: |rainy - clean| above this many grey levels (0: the data's default)
    lr_schedule: str = "constant"  # or 'cosine': decays to 0 over the run's steps
    clip_grad: float = 0.0  # gradient-norm clipping of both networks (0: off)
    ema: float = 0.0  # decay of a moving average of the generator's weights, which is what is scored and saved (0: off)
    real_label: float = 1.0  # discriminator targets; label smoothing moves them inwards
    fake_label: float = 0.0
    flip_prob: float = 0.0  # share of samples whose real/fake targets are swapped for D
    data: str = "synthetic"  # 'synthetic' (embedded photos + rendered drops) or a folder
    train_pairs: int = 1024  # synthetic pairs rendered for training; crops per epoch at least, for a folder
    val_pairs: int = 64  # synthetic pairs rendered from the validation photos (and as many from the test photos)
    fresh_drops: bool = False  # synthetic: render new drops on new crops every epoch instead of one fixed set
    augment: bool = False  # paired augmentation: flips and colour jitter (rendered pairs: channel shuffle too)
    extra_photos: str = ""  # synthetic: a folder of clean photos added to the embedded training photos
    drop_style: str = DEFAULT_DROP_STYLE  # synthetic: the renderer's style for every split of the run (lensdrops.STYLES)
    real_pairs: str = ""  # synthetic: a folder of real pairs whose training frames are mixed into the rendered ones
    real_share: float = 0.25  # with real_pairs: about this share of each epoch's crops are real
    drop_free_share: float = 0.0  # synthetic: about this share of each epoch's crops carry no drops (target = input)
    init_from: str = ""  # a finished run (folder or checkpoint) whose weights this run starts from: fine-tuning
    seed: int = 0
    precision: str = "auto"  # 'auto', 'fp32', 'bf16' or 'fp16'; auto: bf16 only where native (training/precision.py)
    channels_last: bool = False

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))  # tuples become lists, as in JSON

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        values = dict(values)
        if "bf16" in values:  # runs saved before the precision setting: bf16 on or off
            values["precision"] = "bf16" if values.pop("bf16") else "fp32"
        values.setdefault("drop_style", "crisp")  # runs saved before the drop styles rendered crisp drops
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        values = {k: tuple(v) if k.startswith("betas") else v for k, v in values.items()}
        return cls(**values)


# What the report's experiment sections specify (they win over its Models section).
_EXPERIMENT = {
    "baseline": dict(generator="baseline", discriminator="baseline", l1_weight=0.0, betas_g=(0.9, 0.999), betas_d=(0.9, 0.999)),
    "pix2pix": dict(generator="unet", discriminator="patchgan"),
    "stabilized": dict(generator="unet", discriminator="patchgan", lr_g=5e-4, lr_d=2e-4, real_label=0.9, fake_label=0.1, flip_prob=0.075),
    # Measured choices (docs/journal.md, chapter 5): the adversarial term weighs 1/1000 of the L1
    # term (pix2pix's 1/100 cost 0.9 dB); a high learning rate with a cosine decay; one fixed
    # set of rendered drops (fresh drops every epoch cost render time and gained nothing).
    "attentive": dict(generator="attentive", discriminator="patchgan", lr_g=4e-3, lr_d=2e-4, adv_weight=0.1, drop_weight=4.0,
                      mask_weight=10.0, lr_schedule="cosine", clip_grad=10.0, augment=True),
}

_PROFILE = {
    # channels_last: on an H200 in bf16 the baseline's step ran 1.9x faster with it, the
    # U-Net's 1.2x (benchmarks/README.md, GPU check).
    "paper": dict(image_size=256, batch_size=16, epochs=200, train_pairs=1024, val_pairs=64, channels_last=True,
                  unet=dict(depth=6, base=64), patch=dict(base=64),
                  attentive=dict(base=32, depth=5), attentive_patch=dict(base=32)),
    # Sized for a whole course of at most 30 minutes on a 2-core CPU whose Pix2Pix step
    # runs at 11.5 images/s (an AVX2-only EPYC in fp32): a fresh clone's notebooks took
    # 10.6 minutes on an AVX2-only Zen 3 benching 29-32 images/s, 22.5-29.2 minutes
    # projected (docs/journal.md, "the whole course on the AVX2-only Zen 3 EPYC"). The report's
    # experiments train only as long as their figures need: the baseline has collapsed
    # after one epoch of 384 pairs (10.0 dB against 18.8 for doing nothing; its outputs
    # vary by 1.7 grey levels across 16 held-out images, the targets' by 55.2), Pix2Pix
    # and the stabilized run show their PatchGAN maps, losses and discriminator
    # accuracy within 3 epochs and gain little after (Pix2Pix 17.9 dB
    # after 3, 19.0 after 4, 19.6 after 12; the stabilized run 19.1 after 3, 18.6 after
    # 4). Experiment 4 trains for 8 epochs with a cosine decay. A 16-channel PatchGAN:
    # the same layers and 70x70 receptive field, 1.4x faster steps.
    "cpu": dict(image_size=128, batch_size=8, epochs=dict(baseline=1, pix2pix=3, stabilized=3, attentive=8),
                train_pairs=dict(baseline=384, pix2pix=768, stabilized=768, attentive=768), val_pairs=32,
                channels_last=True, unet=dict(depth=6, base=32), patch=dict(base=16), attentive=dict(base=16, depth=4),
                attentive_patch=dict(base=8)),
    "smoke": dict(image_size=32, batch_size=4, epochs=2, train_pairs=16, val_pairs=4, unet=dict(depth=5, base=8), patch=dict(base=8, layers=2),
                  attentive=dict(base=8, depth=2), attentive_patch=dict(base=8, layers=2)),
}


# Epochs of every row of experiment 4's ablation (course/ablation.py): fewer than the experiment's
# own run, so that the short table fits the profile's budget (the full one: `make ablation`).
ABLATION_EPOCHS = {"smoke": 1, "cpu": 2, "paper": 50}


# Whole recipes behind one name (`derain train --preset NAME`): an experiment, a profile and
# the settings that differ from it. real-photos trains the model shipped for real photos
# (docs/model.md; how it was chosen: docs/journal.md). Its 256x256 crops, four to a batch,
# show the generator larger drops in wider views than the profile's 128x128 crops: on whole
# photos it gains more and fills large drops without the dark blotches of smaller crops.
RUN_SIZE = ("image_size", "batch_size", "epochs")  # a recipe's settings that belong to its profile
RECIPES = {
    "real-photos": dict(experiment="attentive", profile="cpu", drop_style="lens", epochs=10, real_share=0.1,
                        image_size=256, batch_size=4),
}


def make_config(experiment: str, profile: str = "cpu", **overrides) -> TrainConfig:
    """The configuration of one experiment at one profile, with optional overrides."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; expected one of {', '.join(EXPERIMENTS)}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    spec = dict(_EXPERIMENT[experiment])
    sizes = dict(_PROFILE[profile])
    unet, patch = sizes.pop("unet"), sizes.pop("patch")
    attentive, attentive_patch = sizes.pop("attentive"), sizes.pop("attentive_patch")
    for key in ("epochs", "train_pairs"):  # a profile may size these per experiment
        if isinstance(sizes[key], dict):
            sizes[key] = sizes[key][experiment]
    if spec["generator"] == "unet":
        spec["generator_options"] = dict(unet)
        spec["discriminator_options"] = dict(patch)
    elif spec["generator"] == "attentive":
        spec["generator_options"] = dict(attentive)
        spec["discriminator_options"] = dict(attentive_patch)
    else:
        spec["generator_options"] = dict(image_size=sizes["image_size"])
    config = TrainConfig(experiment=experiment, profile=profile, **spec, **sizes)
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
