from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from derain_utils.data.lensdrops import STYLES, DropStyle, _Drops, _splat, render_drops
from derain_utils.data.photos import embedded_photos, random_crop


@pytest.fixture(scope="module")
def clean():
    photos = embedded_photos("train")
    rng = np.random.default_rng(0)
    return torch.stack([random_crop(photos[i % len(photos)], 128, rng) for i in range(12)])


def test_same_seed_same_pair_whatever_the_batch(clean):
    rainy, mask = render_drops(clean, list(range(12)))
    again, mask_again = render_drops(clean[5:8], [5, 6, 7])
    assert torch.equal(rainy[5:8], again) and torch.equal(mask[5:8], mask_again)
    other, _ = render_drops(clean[5:8], [50, 60, 70])
    assert (other - again).abs().amax() > 0.1


def test_output_types_and_ranges(clean):
    rainy, mask = render_drops(clean, list(range(12)))
    assert rainy.shape == clean.shape and mask.shape == (12, 1, 128, 128)
    assert rainy.dtype == mask.dtype == torch.float32
    assert 0 <= rainy.min() and rainy.max() <= 1 and 0 <= mask.min() and mask.max() <= 1


def test_rainy_differs_from_clean_only_under_the_mask(clean):
    rainy, mask = render_drops(clean, list(range(12)))
    changed = (rainy - clean).abs().amax(1, keepdim=True) > 0
    assert torch.equal(changed & (mask == 0), torch.zeros_like(changed))
    # ... and the drops really change the image where they are opaque.
    opaque = mask > 0.45  # drops are at least half opaque
    assert (rainy - clean).abs().amax(1, keepdim=True)[opaque].mean() > 0.02


def test_drop_coverage_is_sane_and_follows_the_style(clean):
    _, mask = render_drops(clean, list(range(12)))
    coverage = (mask > 0.5).float().mean((1, 2, 3))
    assert 0.02 < coverage.min() and coverage.max() < 0.6
    few = DropStyle(count=(3, 3), radius=(0.05, 0.05), merge=0.0)
    _, sparse = render_drops(clean, list(range(12)), few)
    expected = 3 * np.pi * (0.05 * 128) ** 2 / 128**2  # three separate discs
    assert (sparse > 0.5).float().mean().item() == pytest.approx(expected, rel=0.35)


def test_drops_show_an_inverted_view():
    """A lone drop over a vertical ramp shows the ramp upside down."""
    ramp = torch.linspace(0, 1, 128)[:, None].expand(128, 128)
    clean = ramp.expand(1, 3, 128, 128).contiguous()
    style = DropStyle(count=(1, 1), radius=(0.15, 0.15), elongated=0, highlight=0, blur=(0.001, 0.001), rim=(0, 0),
                      gain=(1, 1), haze=(0, 0), opacity=(1, 1))
    rainy, mask = render_drops(clean, [3], style)
    inside = mask[0, 0] > 0.99
    rows = torch.nonzero(inside)[:, 0]
    top, bottom = rows.min().item(), rows.max().item()
    column = torch.nonzero(inside[(top + bottom) // 2])[:, 0].float().mean().long()
    assert rainy[0, 0, top + 2, column] > rainy[0, 0, bottom - 2, column]  # brighter at the top
    assert clean[0, 0, top + 2, column] < clean[0, 0, bottom - 2, column]


def test_bad_input_is_refused(clean):
    with pytest.raises(ValueError, match="2 seeds for a batch of 12"):
        render_drops(clean, [1, 2])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        render_drops(clean[:, :1], list(range(12)))


def test_drop_styles_are_selectable_by_name():
    from derain_utils.data.lensdrops import STYLES, drop_style
    from derain_utils.presets import DROP_STYLES, make_config
    from derain_utils.data.training_data import build_datasets

    assert tuple(STYLES) == DROP_STYLES and drop_style("crisp") == DropStyle()
    with pytest.raises(ValueError, match="drop style 'wet': expected one of crisp, soft"):
        drop_style("wet")
    crisp, *others = (build_datasets(make_config("pix2pix", "smoke", drop_style=s))[1] for s in DROP_STYLES)
    for other in others:  # the same photos and crops, other drops: the clean images agree, the rainy ones do not
        assert np.array_equal(crisp.arrays(0)[1], other.arrays(0)[1])
        assert not np.array_equal(crisp.arrays(0)[0], other.arrays(0)[0])


def test_lens_drops_are_the_default_and_a_run_saved_before_the_styles_reads_as_crisp():
    from derain_utils.presets import DEFAULT_DROP_STYLE, TrainConfig, make_config

    config = make_config("attentive", "smoke")
    assert DEFAULT_DROP_STYLE == "lens" and config.drop_style == "lens"
    older = {k: v for k, v in config.to_dict().items() if k != "drop_style"}
    assert TrainConfig.from_dict(older).drop_style == "crisp"
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_a_stretched_drop_keeps_its_whole_length():
    """A running drop is longer than its support radius along its long axis; the patch it
    is evaluated on must cover that length, or its ends are cut off square."""
    support, stretch = 10.0, 1.9
    drops = _Drops(image=np.array([0]), x=np.array([32.0]), y=np.array([32.0]), support=np.array([support]),
                   stretch=np.array([stretch]), angle=np.array([0.0]), minify=np.array([3.0]), highlight=np.array([0.0]), dim=np.array([1.0]))
    field = _splat(drops, 1, 64, 64, light=np.array([0.0]))[0, 0]
    columns = np.flatnonzero(field[32].numpy() > 0)
    reach = support * np.sqrt(stretch)  # 13.8 px each side of the centre, 11 px before the fix
    assert columns.min() == 32 - int(reach) and columns.max() == 32 + int(reach)
    assert np.flatnonzero(field[:, 32].numpy() > 0).size == 2 * int(support / np.sqrt(stretch)) + 1


# The lens style: spherical caps, a focus distance, specks, and a layer rendered at half
# resolution where its defocus makes it smooth.
LONE = dict(count=(1, 1), radius=(0.2, 0.2), elongated=0, merge=0, highlight=0, gain=(1, 1), haze=(0, 0), opacity=(1, 1),
            blur=(0.001, 0.001))


def test_lens_style_is_deterministic_whatever_the_batch(clean):
    big = torch.cat([clean, clean.flip(-1)])  # 24 images: both layer resolutions occur
    rainy, mask = render_drops(big, list(range(24)), STYLES["lens"])
    again, mask_again = render_drops(big[5:8], [5, 6, 7], STYLES["lens"])
    assert torch.equal(rainy[5:8], again) and torch.equal(mask[5:8], mask_again)
    changed = (rainy - big).abs().amax(1, keepdim=True) > 0
    assert not (changed & (mask == 0)).any() and (mask > 0.5).float().mean() > 0.05


def test_steep_caps_have_a_dark_rim_of_totally_reflected_light():
    """Water (n = 1.333) reflects every ray that meets its surface tilted by more than
    48.6 degrees: a drop with an 80-degree contact angle has a dark ring, one with 40
    degrees has none. On a flat grey scene the view through the drop is grey too, so the
    ring is the only thing that darkens it."""
    grey = torch.full((1, 3, 128, 128), 0.5)
    ring = {}
    for angle in (40.0, 80.0):
        style = DropStyle(**LONE, rim=(1, 1), contact=(angle, angle))
        rainy, mask = render_drops(grey, [1], style)
        inside = mask[0, 0] > 0.99
        ring[angle] = rainy[0, 0][inside].min().item()
    assert ring[40.0] == pytest.approx(0.5, abs=0.01)
    assert ring[80.0] < 0.2


def test_a_cap_bends_the_view_less_in_its_middle_than_a_ball_lens():
    """A spherical cap's surface is nearly flat in the middle, so it deviates the central
    rays less than the ball lens's linear view and more towards its edge (a fisheye): on a
    ramp the middle half of the drop shows a much narrower band of the scene, yet the view
    stays inverted."""
    ramp = torch.linspace(0, 1, 128)[:, None].expand(128, 128).expand(1, 3, 128, 128).contiguous()
    spans = {}
    for angle in (0.0, 60.0):
        style = DropStyle(**{**LONE, "radius": (0.1, 0.1)}, rim=(0, 0), minify=(3, 3), contact=(angle, angle), pool=1)
        rainy, mask = render_drops(ramp, [3], style)
        inside = mask[0, 0] > 0.99
        rows = torch.nonzero(inside)[:, 0]
        middle, half = (rows.min() + rows.max()).item() // 2, (rows.max() - rows.min()).item() // 4
        column = torch.nonzero(inside[middle])[:, 0].float().mean().long()
        top, bottom = rainy[0, 0, middle - half, column].item(), rainy[0, 0, middle + half, column].item()
        assert top > bottom  # inverted
        spans[angle] = top - bottom
    assert spans[60.0] < 0.5 * spans[0.0]


def test_the_defocus_grows_with_the_focus_distance():
    """Focused far behind the glass, drops blur more than focused just behind it."""
    grey = torch.full((1, 3, 128, 128), 0.5)
    soft_edge = {}
    for focus in (1.5, 100.0):
        style = DropStyle(**{**LONE, "blur": (0.03, 0.03)}, rim=(0, 0), focus=(focus, focus))
        _, mask = render_drops(grey, [4], style)
        soft_edge[focus] = ((mask > 0.05) & (mask < 0.95)).sum().item()
    assert soft_edge[100.0] > 1.5 * soft_edge[1.5]


def test_specks_add_many_small_drops(clean):
    from skimage.measure import label

    few = DropStyle(count=(5, 5), radius=(0.05, 0.05), merge=0, blur=(0.001, 0.001))
    specks = DropStyle(count=(5, 5), radius=(0.05, 0.05), merge=0, blur=(0.001, 0.001), specks=(80, 80), speck_radius=(0.01, 0.02))
    blobs = [label((render_drops(clean[:1], [9], s)[1][0, 0] > 0.3).numpy()).max() for s in (few, specks)]
    assert blobs[0] <= 5 and blobs[1] >= 40


def test_a_smooth_layer_rendered_at_half_resolution_looks_the_same(clean):
    wide = replace(STYLES["lens"], blur=(0.03, 0.03), focus=(50.0, 50.0))  # sigma 3.8 px: every image halves
    full, full_mask = render_drops(clean, list(range(12)), replace(wide, layer_scale=1))
    half, half_mask = render_drops(clean, list(range(12)), wide)
    # measured: 0.7 grey levels on average (0.0028); opacity 0.0099 on average, by more
    # than 0.05 at 1% of the pixels (drop edges), 0.13 at most
    opacity = (half_mask - full_mask).abs()
    assert (half - full).abs().mean() < 0.004 and opacity.mean() < 0.015
    assert (opacity > 0.05).float().mean() < 0.02 and opacity.amax() < 0.2


def test_dimmed_drops_are_darker_and_leave_the_rest_alone(clean):
    """lens-dim renders the lens style's drops, in the same places, with some of them darker."""
    lens, dim = STYLES["lens"], STYLES["lens-dim"]
    assert dim == replace(lens, dim=0.4)
    bright, mask = render_drops(clean, list(range(12)), lens)
    half, half_mask = render_drops(clean, list(range(12)), replace(lens, dim=1.0, dim_gain=(0.5, 0.5)))
    assert torch.equal(mask, half_mask)  # same drops, same places
    inside = mask[:, 0] > 0.9
    ratio = half.mean(1)[inside].sum() / bright.mean(1)[inside].sum()
    assert 0.45 < ratio < 0.6  # measured 0.53: half as bright, less the clamp at white
    some, _ = render_drops(clean, list(range(12)), dim)
    darker = (some.mean(1) < bright.mean(1) - 0.02)[inside].float().mean()
    assert 0.2 < darker < 0.6  # measured 0.34
