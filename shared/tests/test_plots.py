"""Training curves read sensibly for a one-epoch (quick-profile) run too."""
import matplotlib

matplotlib.use("Agg")

from mnistkit.plots import plot_history  # noqa: E402


def test_one_epoch_history_has_one_whole_epoch_tick_and_plain_log_labels():
    history = [{"epoch": 1, "train_acc": 90.1, "test_acc": 96.5, "train_loss": 0.35, "test_loss": 0.12, "lr": 0.02}]
    fig = plot_history({"model1": history})
    fig.canvas.draw()
    for ax in fig.axes:
        assert [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]] == [1]
    for ax in fig.axes[1:]:  # loss and learning rate are log axes
        labels = [t.get_text() for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels() if t.get_text()]
        assert labels and not any("times" in text or "^" in text for text in labels), labels
    train_line = [line for line in fig.axes[0].lines if line.get_label() == "model1 train"][0]
    assert train_line.get_marker() == "o"  # a dashed line through one point would draw nothing


def test_plot_seeds_draws_a_panel_per_recipe_and_a_line_per_seed():
    from mnistkit.plots import plot_seeds
    runs = [{"seed": k, "epochs": [{"epoch": e, "test_acc": 99.0 + 0.01 * e + 0.02 * k} for e in range(1, 16)]}
            for k in (3, 1, 2)]
    fig = plot_seeds({"ours: a recipe": runs, "theirs": runs[:2]}, last=5)
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()[:3]] == ["seed 1", "seed 2", "seed 3"]
    assert left.get_title() == "ours (3 seeds)" and right.get_title() == "theirs (2 seeds)"
    assert len(left.patches) == 1  # the shaded last five epochs
