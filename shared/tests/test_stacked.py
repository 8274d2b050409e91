import pytest
import torch

from mnistkit.augment import RandomAffine
from mnistkit.data import load_mnist
from mnistkit.seq2seq import (
    START,
    DigitSequenceReader,
    FourHeadReader,
    GridEncoder,
    QuadrantPool,
    greedy_decode,
    greedy_decode_naive,
    quadrant_tokens,
)
from mnistkit.stacked import (
    PerQuadrant,
    digits_correct,
    make_grids,
    sequences_correct,
    shared_digit_images,
    stacked_mnist,
    tile,
    untile,
)


def numbered_digits(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Digit i is a 28x28 image filled with the value i / 100: every quadrant says where it came from."""
    images = (torch.arange(n, dtype=torch.float32) / 100).view(n, 1, 1, 1).expand(n, 1, 28, 28).clone()
    return images, torch.arange(n) % 10


def test_grids_put_the_four_digits_in_reading_order():
    images, labels = numbered_digits()
    grids, digits, sources = make_grids(images, labels, count=3, seed=0)
    assert grids.shape == (3, 1, 56, 56) and digits.shape == (3, 4)
    for g, src in zip(grids, sources):
        corners = [g[0, 0, 0], g[0, 0, 28], g[0, 28, 0], g[0, 28, 28]]  # TL, TR, BL, BR
        assert [round(float(c) * 100) for c in corners] == src.tolist()
    assert torch.equal(digits, labels[sources])


def test_tile_and_untile_are_inverse():
    x = torch.rand(5, 4, 1, 28, 28)
    assert torch.equal(untile(tile(x)), x)


def test_grids_are_deterministic_and_use_digits_evenly():
    images, labels = numbered_digits(12)
    a = make_grids(images, labels, count=3, seed=7)
    b = make_grids(images, labels, count=3, seed=7)
    c = make_grids(images, labels, count=3, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[2], c[2])
    assert sorted(a[2].flatten().tolist()) == list(range(12))  # 12 quadrants from 12 digits: each once


def test_training_digits_never_appear_in_test_grids():
    """The split-leak test on the real data: no test-grid quadrant is pixel-identical to a training image."""
    mnist = load_mnist()
    data = stacked_mnist(mnist, train_count=30_000, test_count=5_000, seed=0)
    assert data.train_x.shape == (30_000, 1, 56, 56) and data.test_x.shape == (5_000, 1, 56, 56)
    assert int(data.train_sources.max()) < len(mnist.train_x) and int(data.test_sources.max()) < len(mnist.test_x)
    assert shared_digit_images(mnist.train_x, data.test_x) == 0
    # and the check can fail: a test grid built from training digits is caught
    leaked, _, _ = make_grids(mnist.train_x, mnist.train_y, count=10, seed=3)
    assert shared_digit_images(mnist.train_x, leaked) == 40
    # counted per quadrant: 5 training digits reused across 5 grids fill 20 quadrants
    reused, _, _ = make_grids(mnist.train_x[:5], mnist.train_y[:5], count=5, seed=3)
    assert shared_digit_images(mnist.train_x, reused) == 20


def test_per_quadrant_augmentation_keeps_each_digit_in_its_quadrant():
    images, labels = numbered_digits(8)
    images = images.clone()
    images[:, :, 10:18, 10:18] = 1.0  # a centred square of ink in each digit
    grids, _, _ = make_grids(images, labels, count=2, seed=0)
    moved = PerQuadrant(RandomAffine(degrees=0, translate=0.1))(grids, torch.Generator().manual_seed(0))
    assert moved.shape == grids.shape
    for q_before, q_after in zip(untile(grids).flatten(0, 1), untile(moved).flatten(0, 1)):
        assert q_after.max() == 1.0  # the square is still inside its own quadrant (shift <= 3 px)


def test_sequence_and_digit_counts():
    y = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    out = torch.nn.functional.one_hot(torch.tensor([[1, 2, 3, 4], [5, 6, 0, 8]]), 10).float()
    assert int(sequences_correct(out, y)) == 1
    assert float(digits_correct(out, y)) == pytest.approx(1.75)


def test_quadrant_tokens_follow_reading_order():
    tokens = torch.arange(64, dtype=torch.float32).view(1, 64, 1)  # token index = its position, 8x8 grid
    quads = quadrant_tokens(tokens, grid=8)[0, :, :, 0]
    assert quads[0].tolist()[:5] == [0, 1, 2, 3, 8] and quads[1, 0] == 4 and quads[2, 0] == 32 and quads[3, 0] == 36
    assert torch.equal(QuadrantPool(8, 1, "mean")(tokens)[0, :, 0], quads.mean(dim=1))


def tiny_reader(seed: int = 0) -> DigitSequenceReader:
    torch.manual_seed(seed)
    return DigitSequenceReader(GridEncoder(d_model=16, depth=1, heads=2, ff_dim=32), d_model=16, depth=2,
                               heads=2, ff_dim=32).eval()


def test_batched_greedy_decoding_equals_the_naive_loop():
    torch.manual_seed(1)
    images = torch.randn(12, 1, 56, 56)
    for seed in range(3):  # several random models: their choices differ from image to image
        model = tiny_reader(seed)
        digits, logits = greedy_decode(model, images)
        naive = [greedy_decode_naive(model, image) for image in images]
        assert digits.tolist() == naive
        assert torch.equal(logits.argmax(-1), digits)
    assert len({tuple(d) for d in naive}) > 1  # not a model that writes the same digits for everything


def test_decoder_is_causal_and_teacher_forcing_matches_decoding():
    model = tiny_reader()
    images = torch.randn(4, 1, 56, 56)
    targets = torch.randint(0, 10, (4, 4))
    with torch.no_grad():
        forced = model(images, targets)
        changed = targets.clone()
        changed[:, 2:] = (changed[:, 2:] + 1) % 10  # change digits 3 and 4: steps 1-3 must not notice
        forced_changed = model(images, changed)
        assert torch.allclose(forced[:, :3], forced_changed[:, :3], atol=1e-6)
        assert not torch.allclose(forced[:, 3], forced_changed[:, 3])
        digits, logits = greedy_decode(model, images)
        assert torch.allclose(model(images, digits), logits, atol=1e-5)  # fed its own choices = greedy
    assert START == 10


def test_four_head_reader_shapes():
    model = FourHeadReader(GridEncoder(d_model=16, depth=1, heads=2, ff_dim=32), d_model=16)
    assert model(torch.randn(3, 1, 56, 56)).shape == (3, 4, 10)


def test_encoder_rejects_a_patch_that_does_not_tile_the_grid():
    with pytest.raises(ValueError, match="patch=5"):
        GridEncoder(patch=5)


def test_encoder_with_a_convolution_stem_keeps_64_tokens():
    plain, stem = GridEncoder(d_model=16, depth=1, heads=2, ff_dim=32), GridEncoder(d_model=16, depth=1, heads=2,
                                                                                   ff_dim=32, stem_channels=8)
    x = torch.randn(2, 1, 56, 56)
    assert plain(x).shape == stem(x).shape == (2, 64, 16)
    assert sum(p.numel() for p in stem.parameters()) - sum(p.numel() for p in plain.parameters()) == (
        8 * 9 + 8) + 16 * 49 * (8 - 1)  # the 3x3 convolution, and a patch embedding over 8 channels instead of 1


def test_quadrant_attention_keeps_each_quadrant_to_itself():
    torch.manual_seed(0)
    local = GridEncoder(d_model=16, depth=2, heads=2, ff_dim=32, attention="quadrant").eval()  # no stem: no overlap
    grid = GridEncoder(d_model=16, depth=2, heads=2, ff_dim=32).eval()
    grid.load_state_dict(local.state_dict())  # the same weights: the mask is the only difference (not saved)
    x = torch.randn(2, 1, 56, 56)
    changed = x.clone()
    changed[:, :, :28, 28:] = torch.randn(2, 1, 28, 28)  # a new top-right digit
    with torch.no_grad():
        moved_local = (quadrant_tokens(local(x), 8) - quadrant_tokens(local(changed), 8)).abs().amax(dim=(0, 2, 3))
        moved_grid = (quadrant_tokens(grid(x), 8) - quadrant_tokens(grid(changed), 8)).abs().amax(dim=(0, 2, 3))
    assert moved_local[1] > 0.1 and moved_local[[0, 2, 3]].max() == 0  # only its own quadrant's tokens move
    assert moved_grid[[0, 2, 3]].min() > 0  # with attention over the grid, every quadrant hears of it
    with pytest.raises(ValueError, match="attention='rows' is not allowed"):
        GridEncoder(attention="rows")


def test_reader_from_builds_the_chapters_encoder_decoder_from_its_parameter_names():
    from mnistkit.exercises import chapter_defaults
    from mnistkit.seq2seq import reader_from

    chapter = chapter_defaults("10_stacked_seq2seq")
    torch.manual_seed(0)
    built = reader_from(chapter)
    torch.manual_seed(0)
    by_hand = DigitSequenceReader(GridEncoder(patch=chapter["patch"], d_model=chapter["d_model"],
                                              depth=chapter["encoder_depth"], heads=chapter["heads"],
                                              ff_dim=chapter["ff_dim"], dropout=chapter["dropout"],
                                              stem_channels=chapter["stem_channels"], attention=chapter["attention"]),
                                  d_model=chapter["d_model"], depth=chapter["decoder_depth"], heads=chapter["heads"],
                                  ff_dim=chapter["ff_dim"], dropout=chapter["dropout"], pool=chapter["pool"])
    assert built.state_dict().keys() == by_hand.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), by_hand.state_dict().values()))
    assert torch.equal(built.encoder.mask, by_hand.encoder.mask)
