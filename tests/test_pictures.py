"""Pictures as a person sees them (pipeline.pictures): every mode, transparency, orientation; refusals in one line."""
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from pipeline.pictures import MAX_PICTURE_PIXELS, read_picture
from pipeline.runtime.errors import PipelineError

GARMENT = np.zeros((28, 28), dtype=np.uint8)
GARMENT[5:23, 8:20] = np.random.default_rng(0).integers(40, 256, size=(18, 12))  # light on dark, as the datasets


def grey(path, **options):
    return read_picture(str(path), **options)[0]


def png_header_only(path, width, height):
    """A valid PNG signature and header declaring `width` x `height`, with one tiny compressed row: Pillow reads
    the size without decoding (how a 54 KB file can claim 20000x20000)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_a_16_bit_picture_reads_as_the_same_picture_saved_with_8_bits(tmp_path):
    Image.fromarray(GARMENT).save(tmp_path / "8.png")
    Image.fromarray(GARMENT.astype(np.uint16) * 257).save(tmp_path / "16.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    assert np.array_equal(grey(tmp_path / "16.png"), grey(tmp_path / "8.png"))
    assert np.array_equal(grey(tmp_path / "8.png"), GARMENT)


@pytest.mark.parametrize("dark_on_light, hidden", [(False, 255), (True, 0)])
def test_what_transparent_pixels_hide_does_not_count(tmp_path, dark_on_light, hidden):
    """Two RGBA pictures that look the same (one hides white, the other black under the transparent part) read
    the same: composited onto the datasets' black, or onto white paper with --dark-on-light."""
    item = 255 - GARMENT if dark_on_light else GARMENT
    pictures = []
    for colour in (hidden, 255 - hidden):
        rgba = np.zeros((28, 28, 4), dtype=np.uint8)
        rgba[..., :3] = colour
        rgba[5:23, 8:20, :3] = item[5:23, 8:20, None]
        rgba[5:23, 8:20, 3] = 255
        Image.fromarray(rgba, "RGBA").save(tmp_path / f"{colour}.png")
        pictures.append(grey(tmp_path / f"{colour}.png", dark_on_light=dark_on_light))
    assert np.array_equal(pictures[0], pictures[1])
    assert np.array_equal(pictures[0], GARMENT)


@pytest.mark.parametrize("mode, name", [("P", "palette.png"), ("LA", "alpha.png"), ("CMYK", "cmyk.tif"),
                                        ("RGB", "colour.bmp"), ("1", "bilevel.png"), ("I", "int32.tif"),
                                        ("F", "float.tif")])
def test_every_mode_reads_as_its_grey(tmp_path, mode, name):
    item = np.where(GARMENT > 128, 255, 0).astype(np.uint8) if mode == "1" else GARMENT
    picture = Image.fromarray(item)
    if mode == "I":
        picture = Image.fromarray(item.astype(np.int32) * 257)  # 16 bits in a 32-bit grey TIFF
    elif mode == "F":
        picture = Image.fromarray(item.astype(np.float32) / 255)
    else:
        picture = picture.convert("RGB").convert(mode) if mode == "CMYK" else picture.convert(mode)
    picture.save(tmp_path / name)
    assert Image.open(tmp_path / name).mode == mode
    assert np.abs(grey(tmp_path / name) - item).max() <= 1e-3


def test_a_palette_with_a_transparent_entry_shows_the_background(tmp_path):
    """The background's palette entry transparent: black underneath as in the datasets, white paper (then inverted)
    with --dark-on-light."""
    picture = Image.fromarray(GARMENT).convert("P")
    picture.save(tmp_path / "transparent.png", transparency=int(np.asarray(picture)[0, 0]))
    background = GARMENT == 0
    assert np.array_equal(grey(tmp_path / "transparent.png"), GARMENT)
    assert np.array_equal(grey(tmp_path / "transparent.png", dark_on_light=True),
                          255 - np.where(background, 255, GARMENT))


def test_the_exif_orientation_is_applied(tmp_path):
    picture = Image.fromarray(np.rot90(GARMENT).copy())  # stored turned a quarter left, as a phone may
    exif = picture.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    picture.save(tmp_path / "turned.png", exif=exif)
    Image.fromarray(np.rot90(GARMENT).copy()).save(tmp_path / "plain.png")
    assert np.array_equal(grey(tmp_path / "turned.png"), GARMENT)
    assert not np.array_equal(grey(tmp_path / "plain.png"), GARMENT)


def test_an_animation_or_a_multi_page_file_is_refused(tmp_path):
    frames = [Image.fromarray(GARMENT), Image.fromarray(255 - GARMENT)]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    for name in ("moving.gif", "pages.tif"):
        with pytest.raises(PipelineError) as refusal:
            read_picture(str(tmp_path / name))
        assert str(refusal.value) == (f"{tmp_path / name}: 2 frames (an animation or a multi-page file); allowed: "
                                      "a still picture of one item")


@pytest.mark.parametrize("side, reason", [(7000, "7000x7000 pixels (49,000,000)"),
                                          (20000, "too large to decode (Image size (400000000 pixels) exceeds limit")])
def test_a_picture_over_the_size_bound_is_refused_before_decoding(tmp_path, side, reason):
    png_header_only(tmp_path / "huge.png", side, side)
    assert (tmp_path / "huge.png").stat().st_size < 1000
    with pytest.raises(PipelineError) as refusal:
        read_picture(str(tmp_path / "huge.png"))
    message = str(refusal.value)
    assert message.startswith(f"{tmp_path / 'huge.png'}: {reason}"), message
    assert f"allowed: pictures of at most {MAX_PICTURE_PIXELS:,} pixels" in message and len(message) < 300


def test_a_large_photo_is_shrunk_before_it_is_converted(tmp_path):
    """A 6000x4000 dark-on-light JPEG (JPEG decodes at a reduced size) and PNG come out as 28x28."""
    photo = np.full((4000, 6000), 255, dtype=np.uint8)
    photo[500:3500, 2000:4000] = 40  # a dark item on white paper
    for name in ("photo.jpg", "photo.png"):
        Image.fromarray(photo).save(tmp_path / name)
        pixels = grey(tmp_path / name, dark_on_light=True)
        assert pixels.shape == (28, 28)
        assert pixels[14, 14] > 200 and pixels[1, 1] < 10  # the item light, the paper dark
