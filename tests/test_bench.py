"""The benchmarks run and report what they measured (their timings are never asserted)."""

import torch

from derain_utils.bench import bench_renderer, bench_training


def test_benchmarks_run_on_small_settings(capsys):
    renderer = bench_renderer(size=32, batch=4, pairs=8, threads=1)
    assert renderer["renderer_pairs_per_s"] > 0 and renderer["pipeline_pairs_per_s"] > 0
    training = bench_training("pix2pix", "smoke", steps=1, device="cpu", recipe=False, rounds=3)
    assert set(training) == {"default path", "plain fp32 eager"} and all(rate > 0 for rate in training.values())
    out = capsys.readouterr().out
    assert "render_drops only" in out
    assert "device: " in out and ("AVX" in out or "flags unknown" in out or "NEON" in out)
    assert "(fp32, contiguous; median of 3 rounds, " in out and "x 1.00" in out


def test_the_renderer_benchmark_restores_the_thread_count():
    before = torch.get_num_threads()
    bench_renderer(size=32, batch=2, pairs=2, threads=1)
    assert torch.get_num_threads() == before


def test_the_decoding_benchmark_times_both_decoders(tmp_path, rng, capsys):
    from conftest import random_image, write_image
    from derain_utils.bench import bench_decoding

    for name in ("a.png", "b.jpg", "sub/c.png"):
        write_image(tmp_path / name, random_image(rng, 48, 72))
    before = torch.get_num_threads()
    rates = bench_decoding(str(tmp_path), rounds=2)
    assert set(rates) == {"Pillow", "torchvision.io.decode_image"} and all(rate > 0 for rate in rates.values())
    assert torch.get_num_threads() == before
    assert "decoding 3 images (.jpg, .png)" in capsys.readouterr().out
