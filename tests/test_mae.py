"""MAE pretraining of S2D's ViT: masking, patches, the masked-only loss, a short run that learns,
repeatable to the bit, and an encoder file that starts S2D's static stage."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file

from s2d_lib.build import build_model
from s2d_lib.config import load_config
from s2d_lib.mae import (MaskedAutoencoder, image_files, kept_patches, load_mae, pretrain_mae,
                         random_resized_crop)
from s2d_lib.mae.__main__ import main
from s2d_lib.checkpoints import load_vit_backbone

from conftest import REPO

LANDMARKS = REPO / "trained" / "landmarks_tiny" / "mobilefacenet.safetensors"


@pytest.fixture(scope="module")
def mae() -> MaskedAutoencoder:
    torch.manual_seed(0)
    return MaskedAutoencoder("s2d_tiny_patch8_64").eval()


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """64 small pictures of coloured shapes (ellipses and boxes on plain backgrounds), as PNG
    and JPEG files of a few sizes, in two folders."""
    root = tmp_path_factory.mktemp("shapes")
    g = torch.Generator().manual_seed(0)
    for i in range(64):
        size = (48, 64, 80)[i % 3]
        r = torch.randint(0, 256, (9,), generator=g).tolist()
        image = Image.new("RGB", (size, size), tuple(r[:3]))
        draw = ImageDraw.Draw(image)
        a, b = sorted(torch.randint(4, size - 4, (2,), generator=g).tolist())
        box = (a // 2, b // 3, max(b, a // 2 + 8), min(size - 1, b + 10))
        (draw.ellipse if i % 2 else draw.rectangle)(box, fill=tuple(r[3:6]))
        draw.line((0, a, size, b), fill=tuple(r[6:9]), width=3)
        folder = root / ("a" if i < 32 else "b")
        folder.mkdir(exist_ok=True)
        image.save(folder / f"{i:03d}.{'png' if i % 4 else 'jpg'}")
    (root / "a" / "notes.txt").write_text("not an image")
    return root


def test_masking_keeps_round_one_minus_r_of_the_patches(mae):
    n = mae.num_patches  # 8 x 8 patches of 8 px at 64 px
    assert n == 64
    x = torch.randn(5, n, 192)
    for ratio in (0.75, 0.5, 0.9):
        keep = round((1 - ratio) * n)
        kept, mask, ids_restore = mae.random_masking(x, ratio, torch.Generator().manual_seed(1))
        assert kept.shape == (5, keep, 192) and kept_patches(n, ratio) == keep
        assert ((mask == 0).sum(1) == keep).all() and ((mask == 1).sum(1) == n - keep).all()
        # the kept tokens are the unmasked positions' own tokens, in some order
        for b in range(5):
            visible = x[b][mask[b] == 0]
            assert sorted(map(tuple, kept[b].tolist())) == sorted(map(tuple, visible.tolist()))
        assert (torch.sort(ids_restore, 1).values == torch.arange(n)).all()
    with pytest.raises(ValueError, match="at least one patch"):
        kept_patches(n, 1.0)


def test_patchify_and_unpatchify_round_trip_exactly(mae):
    images = torch.randn(3, 3, 64, 64)
    patches = mae.patchify(images)
    assert patches.shape == (3, 64, 8 * 8 * 3)
    assert torch.equal(mae.unpatchify(patches), images)
    # patch k is the k-th patch in row-major order, the order patch_embed gives its tokens
    assert torch.equal(patches[0, 9].view(8, 8, 3), images[0, :, 8:16, 8:16].permute(1, 2, 0))


def test_the_loss_reads_only_the_masked_patches(mae):
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        loss, pred, mask = mae(images, 0.75, torch.Generator().manual_seed(0))
    visible = int((mask[0] == 0).nonzero()[0])
    masked = int((mask[0] == 1).nonzero()[0])

    def changed(patch: int) -> torch.Tensor:
        patches = mae.patchify(images).clone()
        patches[0, patch] = torch.randn(patches.shape[-1])
        return mae.forward_loss(mae.unpatchify(patches), pred, mask)

    assert torch.equal(mae.forward_loss(images, pred, mask), loss)
    assert torch.equal(changed(visible), loss)    # a visible patch's target does not count
    assert not torch.equal(changed(masked), loss)  # a masked one does
    assert loss.dtype == torch.float32


def test_reconstruct_pastes_the_visible_patches_back(mae):
    images = torch.randn(2, 3, 64, 64)
    masked, recon, original = mae.reconstruct(images, generator=torch.Generator().manual_seed(3))
    assert masked.shape == recon.shape == original.shape == (2, 3, 64, 64)
    _, _, mask = mae(images, 0.75, torch.Generator().manual_seed(3))  # the same mask
    hidden = mae.unpatchify(mask[..., None].expand(-1, -1, 192)).bool()
    assert torch.equal(recon[~hidden], original[~hidden])
    assert torch.equal(masked[~hidden], original[~hidden]) and (masked[hidden] == 0.5).all()
    assert not torch.equal(recon[hidden], original[hidden])
    assert 0 <= float(recon.min()) and float(recon.max()) <= 1


def test_augmentation_is_seeded_and_keeps_the_size():
    images = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    a = random_resized_crop(images, torch.Generator().manual_seed(0))
    b = random_resized_crop(images, torch.Generator().manual_seed(0))
    assert a.shape == (4, 3, 64, 64) and a.dtype == torch.float32 and torch.equal(a, b)
    # the full-image, unflipped crop gives the image back (normalised)
    same = random_resized_crop(images, torch.Generator().manual_seed(0), scale=(1, 1),
                               ratio=(1, 1), flip=0.0)
    flipped = random_resized_crop(images, torch.Generator().manual_seed(0), scale=(1, 1),
                                  ratio=(1, 1), flip=1.0)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    back = ((same * std.view(3, 1, 1) + mean.view(3, 1, 1)) * 255).round()
    assert torch.allclose(back, images.float(), atol=1)
    assert torch.allclose(flipped, same.flip(-1), atol=1e-4)


def test_image_files_are_found_sorted_by_folder_or_glob(shapes):
    files = image_files(shapes / "b", shapes / "a")
    assert len(files) == 64 and files == sorted(files)
    assert image_files(str(shapes / "*" / "*.jpg")) == [f for f in files if f.suffix == ".jpg"]
    assert image_files(shapes / "a" / "000.jpg") == [shapes / "a" / "000.jpg"]


def _run(shapes, out, steps=30, **kwargs) -> dict:
    return pretrain_mae(image_files(shapes), out, steps=steps, batch_size=16, base_lr=1.5e-3 * 16,
                        warmup_steps=3, seed=0, progress=False, device="cpu", **kwargs)


@pytest.fixture(scope="module")
def run(shapes, tmp_path_factory):
    out = tmp_path_factory.mktemp("mae")
    return out, _run(shapes, out)


def test_a_short_run_lowers_the_loss_and_writes_its_record(run):
    out, record = run
    assert {p.name for p in out.iterdir()} == {"mae.safetensors", "decoder.safetensors", "mae.json"}
    assert json.loads((out / "mae.json").read_text()) == json.loads(json.dumps(record))
    curve = record["loss_curve"]
    assert [s for s, _ in curve] == [10, 20, 30] and record["images"] == 64
    assert curve[-1][1] < 0.8 * curve[0][1], curve
    assert record["config"]["lr"] == pytest.approx(1.5e-3 * 16 * 16 / 256)
    import hashlib
    assert record["mae_sha256"] == hashlib.sha256((out / "mae.safetensors").read_bytes()).hexdigest()
    encoder = load_file(str(out / "mae.safetensors"))
    assert not any(k.startswith(("decoder", "mask_token")) for k in encoder)
    assert {k.split(".")[0] for k in encoder} == {"patch_embed", "cls_token", "pos_embed",
                                                  "blocks", "norm"}


def test_the_same_seed_gives_the_same_encoder_to_the_bit(run, shapes, tmp_path):
    out, record = run
    again = _run(shapes, tmp_path)
    assert again["mae_sha256"] == record["mae_sha256"]
    assert again["loss_curve"] == record["loss_curve"]


def test_the_encoder_starts_the_static_stage_with_every_vit_weight(run):
    out, _ = run
    cfg = load_config("static_tiny", {"vit_weights": str(out / "mae.safetensors"),
                                      "landmark_weights": str(LANDMARKS), "num_classes": 7})
    model = build_model(cfg)
    encoder = load_file(str(out / "mae.safetensors"))
    own = model.state_dict()
    for key, value in encoder.items():
        target = "ln_post." + key[len("norm."):] if key.startswith("norm.") else key
        assert torch.equal(own[target], value), key
    report = load_vit_backbone(model, out / "mae.safetensors")
    assert report.ok and not report.dropped and report.loaded == len(encoder)


def test_a_saved_autoencoder_reloads_for_reconstructions(run):
    out, _ = run
    mae = load_mae(out)
    encoder = load_file(str(out / "mae.safetensors"))
    decoder = load_file(str(out / "decoder.safetensors"))
    assert not set(encoder) & set(decoder), "each tensor is stored once"
    assert set(encoder) | set(decoder) == set(mae.state_dict())
    assert all(torch.equal(mae.state_dict()[k], v) for k, v in {**encoder, **decoder}.items())
    assert not mae.training
    images = torch.randn(1, 3, 64, 64)
    assert all(t.shape == (1, 3, 64, 64) for t in mae.reconstruct(images))


def test_a_float16_copy_reloads_in_float32(run, tmp_path):
    out, _ = run
    for name in ("mae.safetensors", "decoder.safetensors"):
        save_file({k: v.half() for k, v in load_file(str(out / name)).items()}, str(tmp_path / name))
    (tmp_path / "mae.json").write_text((out / "mae.json").read_text())
    mae = load_mae(tmp_path)
    assert {p.dtype for p in mae.parameters()} == {torch.float32}
    reference = load_mae(out)
    for key, value in mae.state_dict().items():
        assert torch.equal(value, reference.state_dict()[key].half().float()), key


def test_a_dataset_of_labelled_items_trains_without_its_labels(tmp_path):
    class Labelled(torch.utils.data.Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(i)), "no label"

    record = pretrain_mae(Labelled(), tmp_path, steps=2, batch_size=4, seed=0, progress=False,
                          device="cpu")
    assert record["images"] == 8 and len(record["loss_curve"]) == 1


def test_cli_pretrains_the_images_it_finds(shapes, tmp_path, capsys, monkeypatch):
    # (the log handler would keep capsys's stream, closed after this test, for later tests)
    monkeypatch.setattr("s2d_lib.mae.__main__.show_logs", lambda **kwargs: None)
    record = main([str(shapes / "a"), "--out", str(tmp_path), "--steps", "2", "--batch-size", "8"])
    assert record["images"] == 32 and (tmp_path / "mae.safetensors").is_file()
    assert "MAE on 32 images, 2 steps" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nothing_here"), "--out", str(tmp_path / "x")])


def test_plot_mae_shows_masked_inputs_reconstructions_and_the_loss(tmp_path):
    from s2d_lib.mae import MaskedAutoencoder
    from s2d_lib.viz import plot_mae, reconstruction_error

    torch.manual_seed(0)
    mae = MaskedAutoencoder("s2d_tiny_patch8_64").eval()
    images = torch.randn(2, 3, 64, 64)
    record = {"loss_curve": [[10, 1.5], [20, 1.0], [30, 0.8]], "images": 64,
              "config": {"warmup_steps": 5}}
    fig = plot_mae(mae, images, record, save=tmp_path / "mae.png")
    assert len(fig.axes) == 2 * 3 + 1 and (tmp_path / "mae.png").stat().st_size > 5_000
    errors = reconstruction_error(mae, images)
    assert set(errors) == {"mae_error", "flat_fill_error"} and all(v > 0 for v in errors.values())
