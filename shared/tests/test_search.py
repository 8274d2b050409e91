"""The recipe search: validation-split scoring, the saved runs' table, and bad candidates refused."""
import json

import pytest
import torch

from mnistkit import search

HISTORY = [{"epoch": i + 1, "train_acc": 98.0, "val_acc": v, "test_acc": 99.9, "seconds": 1.0}
           for i, v in enumerate([99.0, 99.1, 99.3, 99.2, 99.25, 99.3, 99.2])]


def test_search_table_ranks_candidates_by_their_worst_validation_epoch(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "OUT", tmp_path)
    (tmp_path / "04").mkdir()
    for name, shift in (("writeup", 0.0), ("onecycle-0.05", 0.1)):
        epochs = [dict(e, val_acc=e["val_acc"] + shift) for e in HISTORY]
        recipe = dict(search.BASE, **({"schedule": "onecycle", "lr": 0.05} if shift else {}))
        run = {"chapter": "04", "candidate": name, "seed": 1, "recipe": recipe,
               "params": 7568, "epochs": epochs}
        (tmp_path / "04" / f"{name}-seed1.json").write_text(json.dumps(run))
    rows = search.search_rows("04")
    assert [r["candidate"] for r in rows] == ["onecycle-0.05", "writeup"]  # ranked by validation, never by test
    assert rows[1]["worst_val"] == pytest.approx(99.2) and rows[1]["changes"] == "(none)"
    assert rows[1]["spread_val"] == pytest.approx(0.1)  # highest minus lowest of the last 5
    assert rows[0]["changes"] == "lr=0.05, schedule=onecycle"
    assert "| onecycle-0.05 | 1 | 7,568 | 99.30 |" in search.search_table("04")
    (tmp_path / "04" / "study-04-seed1-confirm.json").write_text(json.dumps({"chosen": 0, "rows": []}))
    assert len(search.search_rows("04")) == 2  # a study's records beside the runs are not candidates
    assert "No search run of chapter 05" in search.search_table("05")


def test_a_onecycle_run_lists_no_steplr_settings_and_a_one_epoch_window_gives_one_column(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "OUT", tmp_path)
    monkeypatch.setitem(search.LAST, "04", 1)
    (tmp_path / "04").mkdir()
    recipe = dict(search.BASE, schedule="onecycle", step_size=7, gamma=0.5)  # StepLR's settings, unused by onecycle
    run = {"chapter": "04", "candidate": "oc", "seed": 1, "recipe": recipe, "params": 7568, "epochs": HISTORY}
    (tmp_path / "04" / "oc-seed1.json").write_text(json.dumps(run))
    assert search.search_rows("04")[0]["changes"] == "schedule=onecycle"
    table = search.search_table("04")
    assert "| val % (last epoch) |" in table and "spread" not in table and "| oc | 1 | 7,568 | 99.20 | 98.00 |" in table


def test_an_unknown_candidate_is_refused(capsys):
    with pytest.raises(SystemExit):
        search.main(["04", "onecycle-9"])
    assert "candidate 'onecycle-9' is not allowed: expected one of ['onecycle-0.05', " in capsys.readouterr().err


def test_the_candidates_are_read_from_their_saved_runs_not_from_a_registry(tmp_path):
    assert list(search.saved_recipes("05", root=tmp_path)) == ["final"]  # nothing saved: the chapter's reference
    (tmp_path / "10").mkdir()
    older = dict(search.SEQ2SEQ, stem_channels=16)
    del older["attention"]  # a run saved before chapter 10's attention had a choice
    (tmp_path / "10" / "stem16-seed1.json").write_text(json.dumps({"candidate": "stem16", "recipe": older}))
    (tmp_path / "10" / "stem16-seed2.json").write_text(json.dumps({"candidate": "stem16", "recipe": older}))
    (tmp_path / "10" / "study-10-seed1-test.json").write_text(json.dumps({"chosen": 0, "runs": {}}))
    recipes = search.saved_recipes("10", root=tmp_path)
    assert list(recipes) == ["stem8", "stem16"] and recipes["stem8"] == search.SEQ2SEQ
    assert recipes["stem16"] == dict(search.SEQ2SEQ, stem_channels=16)  # its attention: the grid's, as it ran
    assert "stem16-p7" in search.CANDIDATES["08"] and "08" in search.CANDIDATES  # the repository's saved runs


def test_chapter_07_candidates_are_the_chapters_model_within_the_write_ups_size():
    from mnistkit.ch07 import PatchAttentionNet

    for name, recipe in search.CANDIDATES["07"].items():
        model = PatchAttentionNet(**{k: recipe[k] for k in search.PATCH_ATTENTION_ARGS})
        assert sum(p.numel() for p in model.parameters()) <= 36_000, name  # the write-up's model has 33,995
        assert recipe["epochs"] == 5 and recipe["batch_size"] == 32, name  # the write-up's budget


def test_chapter_08_candidates_keep_the_chapters_budget():
    from mnistkit.transformer import VIT_ARGS, VisionTransformer

    for name, recipe in search.CANDIDATES["08"].items():
        model = VisionTransformer(**{k: recipe[k] for k in VIT_ARGS})
        assert sum(p.numel() for p in model.parameters()) <= 250_000, name
        assert recipe["epochs"] <= 20, name


def test_chapter_10_candidates_train_on_training_digits_and_score_on_held_out_ones():
    from mnistkit.data import TensorData

    generator = torch.Generator().manual_seed(0)
    digits = TensorData(torch.rand(60, 1, 28, 28, generator=generator), torch.randint(0, 10, (60,), generator=generator),
                        torch.rand(12, 1, 28, 28, generator=generator), torch.randint(0, 10, (12,), generator=generator))
    data = digits.split_validation(12, seed=0)
    tiny = dict(search.SEQ2SEQ, train_grids=24, val_grids=6, test_grids=6, d_model=8, encoder_depth=1, decoder_depth=1,
                heads=2, ff_dim=16, stem_channels=2, epochs=1, batch_size=8)
    model, history = search._train_seq2seq(tiny, data, seed=1)
    assert {"val_acc", "test_acc", "seq_acc", "digit_acc"} <= set(history[0])  # chosen on val, test only recorded
    leaky = dict(data.__dict__, val_x=data.train_x[:12], val_y=data.train_y[:12])
    with pytest.raises(ValueError, match="training digit appears in a validation grid"):
        search._train_seq2seq(tiny, TensorData(**leaky), seed=1)
    for name, recipe in search.CANDIDATES["10"].items():
        # The chapter's budget: 17 epochs of 60,000 grids with the 16-channel stem (about 17 minutes here); a step
        # with the 8-channel stem costs about 10% less (107 vs 119 ms at 2 threads), so it may take 20.
        grid_epochs = recipe["train_grids"] * recipe["epochs"]
        assert grid_epochs <= 60_000 * (17 if recipe["stem_channels"] > 8 else 20), name
        assert recipe["val_grids"] >= 5_000, name


def test_only_chapter_10_searches_off_the_cpu():
    with pytest.raises(ValueError, match="device 'cuda' is not allowed for chapter 04"):
        search.train("04", "writeup", seed=1, device="cuda")


def test_search_without_a_candidate_is_the_chapters_optuna_study_and_with_one_the_earlier_form(monkeypatch):
    from mnistkit import search, study

    seen = []
    monkeypatch.setattr(study, "main", lambda argv: seen.append(argv) or 0)
    monkeypatch.setattr(search, "train", lambda *a: seen.append(("candidate", *a)) or {"epochs": [{"val_acc": 99.0}]})
    monkeypatch.setattr(search, "report", lambda: "RESULTS.md")
    with pytest.raises(SystemExit) as stop:
        search.main(["04", "--trials", "24", "--workers", "2"])
    assert stop.value.code == 0 and seen == [["04", "--trials", "24", "--workers", "2"]]
    with pytest.raises(SystemExit):  # an option's word value is not a candidate's name
        search.main(["04", "--storage", "postgresql://user@host/db", "--width", "16", "--trials", "2"])
    assert seen[-1] == ["04", "--storage", "postgresql://user@host/db", "--width", "16", "--trials", "2"]
    search.main(["04", "onecycle-0.05", "--seed", "1"])
    assert seen[-1] == ("candidate", "04", "onecycle-0.05", 1, "cpu")


def test_the_report_skips_a_folder_that_is_not_a_searched_chapter(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "OUT", tmp_path)
    (tmp_path / "13").mkdir()  # chapter 13 keeps its stock measurement there (stock.json), not a search
    (tmp_path / "13" / "stock.json").write_text("{}")
    text = search.report().read_text()
    assert "## Chapter 13" not in text and "# Recipe search on a validation split" in text
