"""A picture file as a person sees it, as one 28x28 grey image like the datasets' (light-on-dark, 0..255).

Any mode Pillow opens: 1-, 8-, 16- and 32-bit grey scaled to 0..255 by its bit depth, palettes,
RGB, CMYK, YCbCr, LAB and HSV through their lightness, transparency composited onto the background
the datasets have (black; white with dark_on_light, which then inverts), and the EXIF orientation
applied. A picture that cannot be one item is refused with the rule: an animation or a multi-page
file, or one larger than MAX_PICTURE_PIXELS (which also stops decompression bombs before decoding).
"""
import warnings

import numpy as np

from pipeline.runtime.errors import PipelineError
from pipeline.user_data import IMAGE_SHAPE

PICTURE_FORMATS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_PICTURE_PIXELS = 40_000_000  # a 40-megapixel photo (e.g. 8000x5000); beyond that is no picture of one item
WORKING_SIDE = 1024  # larger pictures are shrunk to this long side first (box filter): memory stays small
ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # Pillow's 16-bit grey (PNG, TIFF)


def refuse(path, reason, allowed):
    raise PipelineError(f"{path}: {reason}; allowed: {allowed}")


def read_picture(path, dark_on_light=False):
    """(1, 28, 28) float32 pixels 0..255 of the picture at `path`, light-on-dark."""
    from PIL import Image, ImageOps  # here: only pictures need Pillow

    try:
        with warnings.catch_warnings():  # Pillow warns about large pictures; the size rule below says it in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                check_size(picture.size, path)
                frames = getattr(picture, "n_frames", 1)
                if frames > 1:
                    refuse(path, f"{frames} frames (an animation or a multi-page file)", "a still picture of one item")
                picture.draft(picture.mode, (WORKING_SIDE, WORKING_SIDE))  # JPEG decodes at 1/2..1/8 size directly
                picture.load()
                grey = lightness(ImageOps.exif_transpose(shrink(picture)), 255.0 if dark_on_light else 0.0, path)
    except Image.DecompressionBombError as error:  # so large that Pillow refuses even to read the header
        refuse(path, f"too large to decode ({str(error).split(',')[0]})",
               f"pictures of at most {MAX_PICTURE_PIXELS:,} pixels")
    except PipelineError:
        raise
    except Exception as error:  # Pillow's decoders raise many kinds (OSError, SyntaxError, EOFError, struct.error, ...)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PipelineError(f"{path}: not a readable picture ({reason[:200]}); allowed: "
                            f"{', '.join(PICTURE_FORMATS)} files") from None
    if dark_on_light:
        grey = 255 - grey
    return to_square(grey)[np.newaxis]


def check_size(size, path):
    width, height = size
    if width * height > MAX_PICTURE_PIXELS:
        refuse(path, f"{width}x{height} pixels ({width * height:,})",
               f"pictures of at most {MAX_PICTURE_PIXELS:,} pixels (e.g. 8000x5000); shrink it first")


def shrink(picture):
    """`picture` reduced by a whole factor (box filter) so that its long side is at most about WORKING_SIDE."""
    factor = max(picture.size) // WORKING_SIDE
    return picture.reduce(factor) if factor >= 2 and picture.mode not in SIXTEEN_BIT_MODES + ("F",) else picture


def lightness(picture, background, path):
    """float32 (H, W) grey 0..255 of a loaded picture of any mode; transparent parts show `background`."""
    from PIL import Image

    mode = picture.mode
    if mode in SIXTEEN_BIT_MODES:
        pixels = np.asarray(picture, dtype=np.float32)
        if pixels.max(initial=0) > 65535 or pixels.min(initial=0) < 0:
            refuse(path, f"{mode} pixels from {pixels.min():g} to {pixels.max():g}", "16-bit pixels, 0 to 65535")
        return pixels / 257  # 65535 / 257 = 255: the same picture saved with 8 bits
    if mode == "F":  # 32-bit floating point grey: 0..1, or 0..255
        pixels = np.asarray(picture, dtype=np.float32)
        top = float(np.nanmax(pixels)) if pixels.size else 0.0
        if not np.isfinite(pixels).all() or pixels.min() < 0 or top > 255:
            refuse(path, "floating-point pixels outside 0..255 (or NaN)", "0 to 1, or 0 to 255")
        return pixels * 255 if top <= 1 else pixels
    if mode in ALPHA_MODES or "transparency" in picture.info:
        underneath = Image.new("RGBA", picture.size, (int(background),) * 3 + (255,))
        return np.asarray(Image.alpha_composite(underneath, picture.convert("RGBA")).convert("L"), dtype=np.float32)
    if mode == "LAB":  # its L channel is the lightness already
        return np.asarray(picture.getchannel("L"), dtype=np.float32)
    if mode not in ("1", "L", "P", "RGB"):  # CMYK, YCbCr, HSV, RGBX: through RGB, as a screen shows them
        picture = picture.convert("RGB")
    return np.asarray(picture.convert("L"), dtype=np.float32)


def to_square(pixels):
    """(28, 28) float32: `pixels` padded to a square with its border's median colour, resized with Lanczos."""
    from PIL import Image

    if pixels.shape == IMAGE_SHAPE:
        return pixels
    side = max(pixels.shape)
    background = float(np.median(np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])))
    square = np.full((side, side), background, dtype=np.float32)
    top, left = (side - pixels.shape[0]) // 2, (side - pixels.shape[1]) // 2
    square[top:top + pixels.shape[0], left:left + pixels.shape[1]] = pixels
    resized = Image.fromarray(square.round().astype(np.uint8)).resize(IMAGE_SHAPE[::-1], Image.LANCZOS)
    return np.asarray(resized, dtype=np.float32)
