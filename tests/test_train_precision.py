"""Training precision and the recipes' defaults: bf16 only where the CPU computes it natively, the choice made
before any photo is read, and the defaults the CLI parses (the triplet head's P = 128 and anchor 0.01).

Pure and quick: no training here except the bf16 run, which needs a CPU with native bf16 and skips elsewhere
(emulated bf16 ran a ResNet-18 step about 20x slower than f32 on this project's AMD EPYC without it).
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from facegrid.clients.cli import build_parser
from facegrid.encoder.cpu_features import cpu_bf16_flags, cpu_flags, cpu_has_bf16

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx2 {extra}
bugs\t\t: sysret_ss_attrs

processor\t: 1
flags\t\t: fpu sse2 avx2 {extra}
"""


def test_cpu_features_read_the_bf16_flags_of_cpuinfo():
    assert cpu_flags(CPUINFO.format(extra="")) == {"fpu", "sse2", "avx2"}
    assert not cpu_has_bf16(CPUINFO.format(extra="avx512f avx512_vnni"))
    assert cpu_has_bf16(CPUINFO.format(extra="avx512f avx512_bf16"))
    assert cpu_bf16_flags(CPUINFO.format(extra="amx_tile amx_bf16 avx512_bf16")) == ["avx512_bf16", "amx_bf16"]
    assert not cpu_has_bf16("") and cpu_flags("model name : no flags line") == frozenset()


def test_auto_is_f32_and_bf16_is_refused_on_a_cpu_without_native_bf16():
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[train]')")
    from facegrid.encoder.train.run import TrainError, choose_precision

    cpu = torch.device("cpu")
    auto = choose_precision("auto", cpu, native_bf16=False)
    assert auto.name == "f32" and "no native bf16" in auto.why
    with pytest.raises(TrainError, match="--precision bf16: this CPU has no native bf16.*slower than f32: use --precision auto or f32"):
        choose_precision("bf16", cpu, native_bf16=False)
    assert choose_precision("f32", cpu, native_bf16=True).name == "f32"
    assert choose_precision("fp32", cpu, native_bf16=True).name == "f32"  # the former spelling
    with pytest.raises(TrainError, match="use auto, f32, bf16"):
        choose_precision("fp16", cpu)


def test_this_cpus_own_flags_decide_auto():
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[train]')")
    from facegrid.encoder.train.run import TrainError, choose_precision

    chosen = choose_precision("auto", torch.device("cpu"))
    assert chosen.name == ("bf16" if cpu_has_bf16() else "f32"), chosen
    if cpu_has_bf16():
        pytest.skip(f"this CPU has native bf16 ({', '.join(cpu_bf16_flags())}): nothing to refuse")
    with pytest.raises(TrainError, match="no native bf16"):
        choose_precision("bf16", torch.device("cpu"))


def test_bf16_autocasts_the_forward_pass_and_f32_does_not():
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[train]')")
    from facegrid.encoder.train.run import choose_precision

    layer, x, cpu = torch.nn.Linear(8, 4), torch.ones(2, 8), torch.device("cpu")
    bf16 = choose_precision("auto", cpu, native_bf16=True)
    assert bf16.name == "bf16"
    with bf16.autocast(cpu):
        assert layer(x).dtype == torch.bfloat16
    with choose_precision("f32", cpu).autocast(cpu):
        assert layer(x).dtype == torch.float32
    assert layer.weight.dtype == torch.float32  # autocast casts on the fly; the weights stay f32


def test_simclr_refuses_bf16_before_reading_any_photo(tmp_path):
    pytest.importorskip("torchvision", reason="torchvision is not installed (pip install 'facegrid[train]')")
    from facegrid.encoder.train.run import TrainError
    from facegrid.encoder.train.simclr import SimclrConfig, train_simclr

    if cpu_has_bf16():
        pytest.skip(f"this CPU has native bf16 ({', '.join(cpu_bf16_flags())}): bf16 is allowed here")
    config = SimclrConfig(folder=tmp_path / "not-there", out="m", models_dir=tmp_path / "models",
                          checkpoint_dir=tmp_path / "ck", precision="bf16", device="cpu", threads=1)
    with pytest.raises(TrainError, match="no native bf16"):  # not the folder's error: refused first
        train_simclr(config)
    assert not (tmp_path / "models").exists()


def test_a_triplet_head_refuses_bf16(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[train]')")
    from facegrid.encoder.train.run import TrainError
    from facegrid.encoder.train.triplet import TripletRun, run_triplet

    with pytest.raises(TrainError, match="trains in f32"):
        run_triplet(TripletRun(tmp_path, "t", tmp_path / "models", precision="bf16", threads=1))


def test_the_cli_defaults_are_the_settings_that_held_accuracy():
    """`facegrid eval lfw --train-head triplet` and `facegrid train triplet` with no options: P = 128, anchor 0.01."""
    pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[train]')")
    from facegrid.clients.train_commands import head_settings
    from facegrid.encoder.train.triplet import HeadSettings

    parser = build_parser()
    head_eval = parser.parse_args(["eval", "lfw", "--train-head", "triplet"])
    train = parser.parse_args(["train", "triplet", "DIR", "--out", "t"])
    for settings in (head_settings(head_eval, head_eval.head_epochs, head_eval.head_lr), head_settings(train, train.epochs, train.lr)):
        assert settings == HeadSettings()
        assert (settings.people_per_batch, settings.anchor, settings.photos_per_person, settings.epochs, settings.lr) == (128, 0.01, 4, 10, 1e-3)
        assert (settings.kind, settings.init, settings.margin, settings.weight_decay) == ("linear", "identity", 0.2, 0.0)
    given = parser.parse_args(["eval", "lfw", "--train-head", "triplet", "--people-per-batch", "32", "--anchor", "0", "--head-epochs", "3"])
    assert head_settings(given, given.head_epochs, given.head_lr) == HeadSettings(people_per_batch=32, anchor=0.0, epochs=3)


def test_the_help_quotes_the_recipes_own_defaults(capsys):
    """The options default to None (the recipe's dataclass decides); their help states the value, which must be its."""
    pytest.importorskip("torchvision", reason="torchvision is not installed (pip install 'facegrid[train]')")
    from facegrid.encoder.train.simclr import SimclrConfig
    from facegrid.encoder.train.triplet import HeadSettings

    def help_of(*argv: str) -> str:
        with pytest.raises(SystemExit):
            build_parser().parse_args([*argv, "--help"])
        return " ".join(capsys.readouterr().out.split())

    head, simclr = HeadSettings(), SimclrConfig(folder=None, out="", models_dir=None, checkpoint_dir=None)
    quoted = {f"P: people in each batch (default {head.people_per_batch};", f"(default {head.photos_per_person})",
              f"distances (default {head.margin})", f"hidden width (default {head.hidden})",
              f"weight decay (default {head.weight_decay:g})", f"(L2-SP; default {head.anchor:g};"}
    for argv in (("train", "triplet"), ("eval", "lfw")):
        text = help_of(*argv)
        assert all(phrase in text for phrase in quoted), (argv, [p for p in quoted if p not in text])
    text = help_of("eval", "lfw")
    assert f"epochs per fold (default {head.epochs})" in text
    assert float(re.search(r"learning rate \(default ([^)]+)\)", text).group(1)) == head.lr
    text = help_of("train", "simclr")
    for phrase in (f"default {simclr.arch};", f"temperature (default {simclr.temperature})", f"default {simclr.size})",
                   f"default {simclr.projection})", f"weight decay (default {simclr.weight_decay})", f"default {simclr.detector})",
                   f"in pixels (default {simclr.min_face:g})", "auto (default)"):
        assert phrase in text, phrase
    assert simclr.clock == "wall" and "wall-clock time (default)" in text and simclr.precision == "auto"


def test_simclr_cli_takes_the_recipes_defaults_and_precision_choices():
    parser = build_parser()
    args = parser.parse_args(["train", "simclr", "DIR", "--out", "s"])
    assert args.batch is args.lr is args.precision is args.temperature is args.feature is args.whiten is None  # SimclrConfig's
    assert parser.parse_args(["train", "simclr", "DIR", "--out", "s", "--precision", "fp32"]).precision == "f32"
    assert parser.parse_args(["train", "simclr", "DIR", "--out", "s", "--precision", "bf16"]).precision == "bf16"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "simclr", "DIR", "--out", "s", "--precision", "fp16"])


def test_simclr_face_defaults_are_layer3_whitened_to_128_when_there_are_enough_chips(tmp_path):
    pytest.importorskip("torchvision", reason="torchvision is not installed (pip install 'facegrid[train]')")
    from facegrid.encoder.train.simclr import SimclrConfig

    faces = SimclrConfig(folder=tmp_path, out="f", models_dir=tmp_path, checkpoint_dir=tmp_path, faces=True)
    assert faces.chosen_feature() == "layer3" and faces.chosen_whiten(5532) == 128 and faces.chosen_whiten(100) == 0
    photos = SimclrConfig(folder=tmp_path, out="p", models_dir=tmp_path, checkpoint_dir=tmp_path)
    assert photos.chosen_feature() == "layer4" and photos.chosen_whiten(5532) == 0
    asked = SimclrConfig(folder=tmp_path, out="a", models_dir=tmp_path, checkpoint_dir=tmp_path, faces=True, feature="layer4", whiten=0)
    assert asked.chosen_feature() == "layer4" and asked.chosen_whiten(5532) == 0


def test_default_p_on_a_small_training_set_takes_all_its_people_and_says_so():
    pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[train]')")
    from facegrid.encoder.train.triplet import HeadSettings, LabelledItems, PKSampler, _batches

    labels = np.repeat(np.arange(6), 5)  # 6 people with 5 photos each, far fewer than P = 128
    sampler = PKSampler(labels, HeadSettings().people_per_batch, 4, seed=0)
    assert sampler.p == 6 and len(sampler) == 2 and len(sampler.batch()) == 6 * 4
    note = io.StringIO()
    assert _batches(LabelledItems(labels, [f"p{i}" for i in range(6)]), HeadSettings(), note) == 2
    assert "P = 6 people a batch, not the 128 asked" in note.getvalue()
