"""Mixed precision is chosen from what the processor can do, and never slows a CPU down."""

import torch

from derain_utils.training.precision import cpu_capability, native_bf16, resolve_precision
from derain_utils.presets import TrainConfig, make_config
from derain_utils.training.timing import format_duration, measure_rate, run_seconds

AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
AVX512_BF16 = AVX2 | {"avx512f", "avx512bw", "avx512_bf16"}
AMX = AVX2 | {"avx512f", "amx_tile", "amx_bf16"}
CPU = torch.device("cpu")


def test_auto_uses_bf16_only_where_the_cpu_computes_it_natively():
    assert not native_bf16(AVX2) and native_bf16(AVX512_BF16) and native_bf16(AMX)
    assert resolve_precision("auto", CPU, AVX2) == "fp32"
    assert resolve_precision("auto", CPU, AVX512_BF16) == "bf16"
    assert resolve_precision("auto", CPU, AMX) == "bf16"
    assert resolve_precision("auto", CPU, frozenset()) == "fp32"  # unknown processor: the safe choice


def test_asking_for_bf16_without_native_support_says_so_and_trains_in_fp32(capsys):
    assert resolve_precision("bf16", CPU, AVX2) == "fp32"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no native bf16" in err and "16x slower" in err and "training in fp32" in err
    assert resolve_precision("bf16", CPU, AVX512_BF16) == "bf16" and capsys.readouterr().err == ""
    assert resolve_precision("fp16", CPU, AVX512_BF16) == "fp32" and "fp16" in capsys.readouterr().err
    assert resolve_precision("fp32", CPU, AMX) == "fp32"


def test_an_unknown_precision_is_refused_by_name():
    try:
        resolve_precision("int8", CPU, AVX2)
    except ValueError as err:
        assert "int8" in str(err) and "auto" in str(err)
    else:
        raise AssertionError("int8 was accepted")


def test_the_capability_line_names_vector_width_and_bf16():
    assert "AVX2" in cpu_capability(AVX2) and "no native bf16" in cpu_capability(AVX2)
    assert "AVX-512" in cpu_capability(AVX512_BF16) and "AVX512-BF16 (native bf16)" in cpu_capability(AVX512_BF16)
    assert "AMX" in cpu_capability(AMX)


def test_runs_saved_with_the_old_bf16_switch_still_load():
    config = make_config("pix2pix", "smoke").to_dict()
    del config["precision"]
    assert TrainConfig.from_dict({**config, "bf16": True}).precision == "bf16"
    assert TrainConfig.from_dict({**config, "bf16": False}).precision == "fp32"


def test_estimates_are_measured_steps_times_counted_steps():
    config = make_config("pix2pix", "smoke", precision="fp32")
    rate, precision = measure_rate(config, "cpu", steps=2)
    assert rate > 0 and precision == "fp32"
    steps = config.epochs * -(-config.train_pairs // config.batch_size)
    assert abs(run_seconds(config, 10.0) - 1.1 * steps * config.batch_size / 10.0) < 1e-9
    assert run_seconds(config, 10.0, epochs=1) * config.epochs == run_seconds(config, 10.0)
    assert [format_duration(s) for s in (40, 600, 9000)] == ["40 s", "10 min", "2.5 h"]


def test_a_onednn_cap_below_bf16_means_fp32(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 runs the convolutions as on an AVX2-only CPU; auto follows."""
    from derain_utils.training import precision

    monkeypatch.setattr(precision, "_cpuinfo", lambda: {"flags": " ".join(sorted(AMX | {"avx512_bf16"})), "model name": "test CPU"})
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    assert resolve_precision("auto", CPU) == "bf16" and "AMX" in cpu_capability()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert resolve_precision("auto", CPU) == "fp32"
    assert cpu_capability() == "test CPU, AVX2, no native bf16 (oneDNN capped at AVX2)"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")  # bf16 allowed, AMX not
    assert resolve_precision("auto", CPU) == "bf16" and "AMX" not in cpu_capability()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")  # not a cap below anything listed
    assert "AMX" in cpu_capability()
