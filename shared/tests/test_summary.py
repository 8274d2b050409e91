"""Receptive field, jump and parameter counts against the tables of seed 001 (a ready oracle)."""
from torch import nn

from mnistkit.summary import summarize


def cbrd(cin, cout, k=3, stride=1, padding=0, p=0.1):
    """Conv -> ReLU -> BatchNorm -> Dropout, bias-free, as in seed 001."""
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False), nn.ReLU(), nn.BatchNorm2d(cout),
            nn.Dropout(p)]


def seed001_model1():
    return nn.Sequential(*cbrd(1, 16), *cbrd(16, 32), nn.Conv2d(32, 10, 1, bias=False), nn.MaxPool2d(2, 2),
                         *cbrd(10, 16), *cbrd(16, 16), *cbrd(16, 16), *cbrd(16, 16, padding=1),
                         nn.AvgPool2d(6), nn.Conv2d(16, 10, 1, bias=False))


def seed001_model2():
    return nn.Sequential(*cbrd(1, 10), *cbrd(10, 16), *cbrd(16, 10, stride=2), *cbrd(10, 12), *cbrd(12, 12),
                         *cbrd(12, 16), nn.AvgPool2d(5), nn.Conv2d(16, 10, 1, bias=False))


# (output channels, spatial size, params, RF, jump) per row of the seed's tables, INPUT row excluded.
SEED_MODEL1 = [(16, 26, 144, 3, 1), (16, 26, 0, 3, 1), (16, 26, 32, 3, 1), (16, 26, 0, 3, 1),
               (32, 24, 4608, 5, 1), (32, 24, 0, 5, 1), (32, 24, 64, 5, 1), (32, 24, 0, 5, 1),
               (10, 24, 320, 5, 1), (10, 12, 0, 6, 2),
               (16, 10, 1440, 10, 2), (16, 10, 0, 10, 2), (16, 10, 32, 10, 2), (16, 10, 0, 10, 2),
               (16, 8, 2304, 14, 2), (16, 8, 0, 14, 2), (16, 8, 32, 14, 2), (16, 8, 0, 14, 2),
               (16, 6, 2304, 18, 2), (16, 6, 0, 18, 2), (16, 6, 32, 18, 2), (16, 6, 0, 18, 2),
               (16, 6, 2304, 22, 2), (16, 6, 0, 22, 2), (16, 6, 32, 22, 2), (16, 6, 0, 22, 2),
               (16, 1, 0, 32, 2), (10, 1, 160, 32, 2)]
SEED_MODEL2_RF_JUMP = [(3, 1)] * 4 + [(5, 1)] * 4 + [(7, 2)] * 4 + [(11, 2)] * 4 + [(15, 2)] * 4 + [(19, 2)] * 4 \
    + [(27, 2), (27, 2)]


def rows_of(model):
    s = summarize(model)
    return s, [(r.output_shape[1], r.output_shape[2], r.params, r.rf, r.jump) for r in s.rows]


def test_seed001_model1_table():
    s, rows = rows_of(seed001_model1())
    assert rows == SEED_MODEL1
    assert s.total_params == 13808 and s.final_rf == 32


def test_seed001_model2_strided_table():
    s, rows = rows_of(seed001_model2())
    assert [(r[3], r[4]) for r in rows] == SEED_MODEL2_RF_JUMP
    assert s.total_params == 7386 and s.final_rf == 27
    assert s.rows[8].name == "Conv2d-9 (stride=2)" and s.rows[8].output_shape[2:] == (11, 11)


def test_non_spatial_layers_have_no_rf_and_table_renders():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    s = summarize(model)
    assert s.rows[0].rf == 3 and s.rows[1].rf is None and s.rows[2].rf is None
    text = s.table()
    assert "Total params: 27,090" in text and "Linear-3" in text


def test_a_transformer_has_no_final_rf_only_its_tokens_before_attention():
    from mnistkit.transformer import VisionTransformer

    s = summarize(VisionTransformer(patch=7, d_model=32, depth=1, heads=2, ff_dim=32, stem_channels=8))
    assert s.final_rf is None and s.token_rf == 9  # a 3x3 stem, then 7x7 patches: one token sees 9x9 pixels
    assert "Final RF" not in str(s) and "RF of one token before attention: 9x9" in str(s)
    assert sum(r.params for r in s.rows) + sum(n for _, n in s.held) == s.total_params
