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
