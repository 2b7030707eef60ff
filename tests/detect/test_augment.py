import numpy as np
import pytest
import torch
import torch.nn.functional as F

from modiste.detect.augment import LUMA, N_DRAWS, DetectionAugment, DetectionTransform, min_iou_crop, to_pixels

S = 64  # small output side keeps the tests fast
# every operation off; tests switch on what they check
OFF = dict(size=S, photometric=False, expand=False, crop=False, p_flip=0.0)
W, H = 200, 160
BOXES = torch.tensor([[10.0, 12.0, 70.0, 90.0], [100.0, 20.0, 180.0, 60.0], [30.0, 110.0, 120.0, 150.0],
                      [140.0, 80.0, 190.0, 140.0]])
LABELS = torch.tensor([0, 1, 2, 3])
COLOURS = torch.tensor([[230, 20, 20], [20, 230, 20], [20, 20, 230], [230, 230, 20]], dtype=torch.uint8)


def noise_image(seed=0, h=H, w=W):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)


def painted_image():
    """Noise with each box filled by its own solid colour (the boxes do not overlap)."""
    img = noise_image()
    for (x1, y1, x2, y2), c in zip(BOXES.long().tolist(), COLOURS):
        img[:, y1:y2, x1:x2] = c[:, None, None]
    return img


def ramp_image():
    """Red = column index, green = row index, blue = 40 * (k + 1) inside box k, 0 elsewhere."""
    img = torch.zeros(3, H, W, dtype=torch.uint8)
    img[0] = torch.arange(W, dtype=torch.uint8)[None, :]
    img[1] = torch.arange(H, dtype=torch.uint8)[:, None]
    for k, (x1, y1, x2, y2) in enumerate(BOXES.long().tolist()):
        img[2, y1:y2, x1:x2] = 40 * (k + 1)
    return img


def to_255(x):
    return (x.double() + 1) * 127.5


def interior(box01, margin=1.5):
    """Output pixel slices well inside a [0, 1] box, or None when it is too small."""
    x1, y1, x2, y2 = (box01 * S).tolist()
    c0, c1 = int(np.ceil(x1 + margin)), int(np.floor(x2 - margin))
    r0, r1 = int(np.ceil(y1 + margin)), int(np.floor(y2 - margin))
    if c1 <= c0 or r1 <= r0:
        return None
    return slice(r0, r1), slice(c0, c1)


def check_output(img, boxes, labels, size=S):
    assert img.shape == (3, size, size) and img.dtype == torch.float32
    assert img.min() >= -1 and img.max() <= 1
    assert boxes.dtype == torch.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
    assert labels.dtype == torch.long and labels.shape == (len(boxes),)
    assert (boxes >= 0).all() and (boxes <= 1).all()
    assert ((boxes[:, 2:] - boxes[:, :2]) * size >= 1 - 1e-6).all()


def test_shapes_dtypes_and_ranges():
    aug = DetectionAugment(size=96)
    for seed in range(10):
        img, boxes, labels = aug(noise_image(seed), BOXES, LABELS, np.random.default_rng(seed))
        check_output(img, boxes, labels, size=96)
        assert set(labels.tolist()) <= set(LABELS.tolist())


def test_same_seed_same_output_other_seeds_differ():
    aug, img = DetectionAugment(size=S), noise_image()
    a = aug(img, BOXES, LABELS, np.random.default_rng(7))
    b = aug(img, BOXES, LABELS, np.random.default_rng(7))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    others = [aug(img, BOXES, LABELS, np.random.default_rng(s))[0] for s in range(8, 12)]
    assert all(not torch.equal(a[0], o) for o in others)


def test_boxes_stay_in_unit_square_and_non_degenerate():
    # edge, out-of-image, tiny and empty boxes among ordinary ones
    boxes = torch.tensor([[0.0, 0.0, W, H], [-20.0, -5.0, 30.0, 40.0], [190.0, 150.0, 260.0, 200.0],
                          [50.0, 50.0, 51.0, 51.5], [80.0, 80.0, 80.0, 100.0], [60.0, 30.0, 160.0, 120.0]])
    labels = torch.arange(len(boxes))
    aug, img = DetectionAugment(size=S), noise_image()
    kept = 0
    for seed in range(150):
        out = aug(img, boxes, labels, np.random.default_rng(seed))
        check_output(*out)
        kept += len(out[1])
        assert 4 not in out[2].tolist()  # the empty box never survives
    assert kept > 150  # boxes are not simply all dropped


def test_flip_mirrors_boxes_and_image():
    img = noise_image()
    out, boxes, labels = DetectionAugment(**{**OFF, "p_flip": 1.0})(img, BOXES, LABELS, np.random.default_rng(0))
    b = BOXES / torch.tensor([W, H, W, H])
    expected = torch.stack([1 - b[:, 2], b[:, 1], 1 - b[:, 0], b[:, 3]], dim=1)
    torch.testing.assert_close(boxes, expected)
    assert torch.equal(labels, LABELS)
    plain = DetectionTransform(S)(img)[0]
    torch.testing.assert_close(out, plain.flip(-1), atol=1e-5, rtol=0)


def test_zoom_out_keeps_every_box_and_shrinks_it_by_the_ratio():
    aug = DetectionAugment(**{**OFF, "expand": True, "p_expand": 1.0, "min_expand": 2.0, "max_expand": 2.0})
    img = ramp_image()
    fill = torch.tensor(aug.fill) / 127.5 - 1
    for seed in range(5):
        out, boxes, labels = aug(img, BOXES, LABELS, np.random.default_rng(seed))
        assert torch.equal(labels, LABELS)
        size01 = (BOXES[:, 2:] - BOXES[:, :2]) / torch.tensor([W, H])
        torch.testing.assert_close(boxes[:, 2:] - boxes[:, :2], size01 / 2)
        is_fill = (out == fill[:, None, None]).all(dim=0)
        assert abs(is_fill.float().mean().item() - 0.75) < 0.05  # the image covers a quarter of the output
        # the image moved with the boxes: its content is inside them, pixel for pixel
        for k, box in enumerate(boxes):
            rows, cols = interior(box)
            assert torch.allclose(to_255(out[2, rows, cols]), torch.tensor(40.0 * (k + 1), dtype=torch.float64))
            # the ramps read the input position of each output pixel inside the box
            x = (torch.arange(cols.start, cols.stop, dtype=torch.float64) + 0.5) / S
            y = (torch.arange(rows.start, rows.stop, dtype=torch.float64) + 0.5) / S
            o = BOXES[k].double()
            x_in = o[0] + (x - box[0]) * (o[2] - o[0]) / (box[2] - box[0])
            y_in = o[1] + (y - box[1]) * (o[3] - o[1]) / (box[3] - box[1])
            torch.testing.assert_close(to_255(out[0, rows.start, cols]) + 0.5, x_in, atol=0.02, rtol=0)
            torch.testing.assert_close(to_255(out[1, rows, cols.start]) + 0.5, y_in, atol=0.02, rtol=0)


def decode_window(out):
    """The crop window, xyxy in input pixels, read back from the red and green ramps."""
    window = []
    for ramp, n in ((to_255(out[0]).mean(0), W), (to_255(out[1]).mean(1), H)):
        j = np.arange(S) + 0.5
        v = ramp.numpy()
        ok = (v > 1) & (v < n - 2)  # away from the repeated border pixels
        slope, intercept = np.polyfit(j[ok], v[ok], 1)
        start = intercept + 0.5  # v = start + j * slope - 0.5
        window.append((start, start + slope * S))
    (x0, x1), (y0, y1) = window
    return np.array([x0, y0, x1, y1])


def test_crop_keeps_boxes_whose_centre_is_inside_with_their_content():
    aug = DetectionAugment(**{**OFF, "crop": True, "min_ious": (0.3,)})
    img = ramp_image()
    b = BOXES.double().numpy()
    cropped = dropped = 0
    for seed in range(30):
        out, boxes, labels = aug(img, BOXES, LABELS, np.random.default_rng(seed))
        win = decode_window(out)
        if np.allclose(win, [0, 0, W, H], atol=0.05):
            continue  # no candidate fitted
        cropped += 1
        centre = (b[:, :2] + b[:, 2:]) / 2
        inside = ((centre > win[:2]) & (centre < win[2:])).all(1)
        expected = np.clip(b, [win[0], win[1]] * 2, [win[2], win[3]] * 2) - [win[0], win[1]] * 2
        expected = expected / ([win[2] - win[0], win[3] - win[1]] * 2)
        dropped += (~inside).sum()
        assert labels.tolist() == LABELS[torch.from_numpy(inside)].tolist()
        np.testing.assert_allclose(boxes.numpy(), expected[inside], atol=2e-3)
        # at least one kept box overlaps the window by the minimum IoU
        lt, rb = np.maximum(b[inside, :2], win[:2]), np.minimum(b[inside, 2:], win[2:])
        inter = np.clip(rb - lt, 0, None).prod(1)
        area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
        assert (inter / (area(b[inside]) + area(win) - inter)).max() >= 0.3 - 1e-3
        for box, label in zip(boxes, labels):
            rows, cols = interior(box)
            code = torch.tensor(40.0 * (label.item() + 1), dtype=torch.float64)
            assert torch.allclose(to_255(out[2, rows, cols]), code)
    assert cropped >= 20 and dropped > 0


def test_full_geometry_keeps_each_boxs_colour_inside_it():
    aug = DetectionAugment(size=S, photometric=False, p_expand=0.5, p_flip=0.5)
    img = painted_image()
    checked = 0
    for seed in range(40):
        out, boxes, labels = aug(img, BOXES, LABELS, np.random.default_rng(seed))
        for box, label in zip(boxes, labels):
            inner = interior(box)
            if inner is None:
                continue
            patch = to_255(out[:, inner[0], inner[1]])
            colour = COLOURS[label].double()[:, None, None].expand_as(patch)
            torch.testing.assert_close(patch, colour, atol=1e-3, rtol=0)
            checked += 1
    assert checked > 40


def test_photometric_changes_colour_only():
    geometry = dict(size=S, expand=True, p_expand=1.0, min_expand=1.5, max_expand=1.5, p_flip=0.5)
    on, off = DetectionAugment(**geometry, p_colour=1.0), DetectionAugment(**geometry, photometric=False)
    img = noise_image()
    fill = torch.tensor(on.fill) / 127.5 - 1
    for seed in range(5):
        a_img, a_boxes, a_labels = on(img, BOXES, LABELS, np.random.default_rng(seed))
        b_img, b_boxes, b_labels = off(img, BOXES, LABELS, np.random.default_rng(seed))
        assert torch.equal(a_boxes, b_boxes) and torch.equal(a_labels, b_labels)
        is_fill = (b_img == fill[:, None, None]).all(dim=0)
        assert is_fill.any() and (~is_fill).any()
        assert torch.equal(a_img[:, is_fill], b_img[:, is_fill])  # the canvas keeps its colour
        assert (a_img[:, ~is_fill] - b_img[:, ~is_fill]).abs().mean() > 0.02


def colour_draws(brightness=None, contrast=None, saturation=None, hue=None, contrast_first=True):
    """Draws for DetectionAugment._colour: each step given as its uniform in [0, 1], or None for off."""
    u = np.ones(N_DRAWS)
    for i, v in enumerate((brightness, contrast, saturation, hue)):
        if v is not None:
            u[2 * i], u[2 * i + 1] = 0.0, v
    u[8] = 0.0 if contrast_first else 1.0
    return u


def test_colour_steps_follow_ssd():
    aug = DetectionAugment(size=S)
    x = noise_image(h=8, w=8).double()

    def run(**steps):
        return to_255(aug._colour(x.float().clone(), colour_draws(**steps)))

    # brightness +32 clipped, then contrast 0.5 about the mean grey of the brightened image
    bright = (x + 32).clamp(0, 255)
    grey = float(LUMA @ bright.mean(dim=(1, 2)).numpy())
    torch.testing.assert_close(run(brightness=1.0, contrast=0.0), (0.5 * bright + 0.5 * grey).clamp(0, 255),
                               atol=1e-3, rtol=0)
    # saturation 1.5 pushes away from each pixel's grey; the order against contrast matters by the clipping
    def saturate(y):
        g = torch.einsum("c,chw->hw", torch.from_numpy(LUMA), y)
        return (1.5 * y - 0.5 * g).clamp(0, 255)

    def contrast(y, f=1.5):
        g = float(LUMA @ y.mean(dim=(1, 2)).numpy())
        return (f * y + (1 - f) * g).clamp(0, 255)

    first = run(contrast=1.0, saturation=1.0, contrast_first=True)
    second = run(contrast=1.0, saturation=1.0, contrast_first=False)
    torch.testing.assert_close(first, saturate(contrast(x)), atol=1e-3, rtol=0)
    torch.testing.assert_close(second, contrast(saturate(x)), atol=1e-3, rtol=0)
    assert (first - second).abs().max() > 1
    # a hue turn of +120 degrees about the grey axis takes red to green and leaves grey alone
    aug.hue = 120.0
    pixels = torch.tensor([[200.0, 0.0, 0.0], [90.0, 90.0, 90.0]]).T.reshape(3, 1, 2)
    turned = to_255(aug._colour(pixels.clone(), colour_draws(hue=1.0)))
    torch.testing.assert_close(turned.reshape(3, 2).T, torch.tensor([[0.0, 200.0, 0.0], [90.0, 90.0, 90.0]],
                                                                    dtype=torch.float64), atol=1e-3, rtol=0)


def test_image_without_boxes():
    aug = DetectionAugment(size=S)
    for seed in range(20):
        img, boxes, labels = aug(noise_image(seed), torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                                 np.random.default_rng(seed))
        check_output(img, boxes, labels)
        assert boxes.shape == (0, 4) and labels.shape == (0,)


def test_everything_off_is_the_eval_transform():
    img = noise_image()
    a = DetectionAugment(**OFF)(img, BOXES, LABELS, np.random.default_rng(0))
    b = DetectionTransform(S)(img, BOXES, LABELS)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_eval_transform_is_deterministic_and_to_pixels_inverts_it():
    img, t = noise_image(), DetectionTransform(S)
    out, boxes, labels = t(img, BOXES, LABELS, np.random.default_rng(0))
    again = t(img, BOXES, LABELS, np.random.default_rng(1))
    assert torch.equal(out, again[0]) and torch.equal(boxes, again[1]) and torch.equal(labels, LABELS)
    ref = F.interpolate(img[None].float(), size=(S, S), mode="bilinear", align_corners=False)[0] / 127.5 - 1
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    assert (boxes >= 0).all() and (boxes <= 1).all()
    torch.testing.assert_close(to_pixels(boxes, W, H), BOXES)
    assert t(img)[1].shape == (0, 4)


def test_min_iou_crop_rules():
    draws = np.random.default_rng(0).random((50, 4))
    small = np.array([[10.0, 10.0, 30.0, 30.0]])  # 10% of each side: no window of >= 30% reaches IoU 0.9
    assert min_iou_crop(small, 200, 200, 0.9, draws) is None
    big = np.array([[20.0, 20.0, 180.0, 180.0]])
    win = min_iou_crop(big, 200, 200, 0.5, draws)
    assert win is not None
    lt, rb = np.maximum(win[:2], big[0, :2]), np.minimum(win[2:], big[0, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None))
    area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
    assert inter / (area(win) + area(big[0]) - inter) >= 0.5
    assert 0.5 <= (win[3] - win[1]) / (win[2] - win[0]) <= 2
    assert (win[:2] < 100).all() and (win[2:] > 100).all()  # contains the box's centre


@pytest.mark.parametrize("bad", [dict(min_expand=0.5), dict(max_expand=0.9), dict(crop_scale=(0.0, 1.0)),
                                 dict(p_flip=1.5), dict(fill=(1.0, 2.0))])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        DetectionAugment(**bad)
