"""Chapter 6's offline transfer machinery on small synthetic tensors (the real run is the chapter's)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib
import pytest
import torch
from torch import nn

from chapter_code import worked_solutions
from resnetbook import models, transfer

solutions = worked_solutions("06_shortcuts_transfer", "freeze_backbone", "train_mode")  # the chapter's

matplotlib.use("Agg")


def _fake_dataset(n_train: int = 40, n_test: int = 20, seed: int = 0) -> SimpleNamespace:
    """FashionMNIST's shape and classes with random pixels: 10 classes, each class equally often."""
    g = torch.Generator().manual_seed(seed)
    labels = lambda n: torch.arange(n) % 10  # noqa: E731
    images = lambda n: torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)  # noqa: E731
    from resnetbook import data

    return SimpleNamespace(train_images=images(n_train), train_labels=labels(n_train),
                           test_images=images(n_test), test_labels=labels(n_test), classes=data.CLASSES)


@pytest.fixture(scope="module")
def task() -> transfer.TransferTask:
    return transfer.transfer_task(_fake_dataset(), device="cpu")


@pytest.fixture(scope="module")
def pretrained() -> nn.Module:
    torch.manual_seed(0)
    return models.FashionResNet(transfer.DEPTH, len(transfer.PRETRAIN_CLASSES))


def test_split_classes_keeps_and_relabels() -> None:
    X = torch.arange(10.0)
    y = torch.tensor([0, 5, 9, 5, 1, 7, 9, 0, 6, 8])
    X_sub, y_sub = transfer.split_classes(X, y, (9, 5))
    assert X_sub.tolist() == [1.0, 2.0, 3.0, 6.0] and y_sub.tolist() == [1, 0, 1, 0]
    with pytest.raises(ValueError, match="distinct"):
        transfer.split_classes(X, y, (5, 5))


def test_transfer_task_halves_and_normalization(task) -> None:
    side = 28 // transfer.POOL
    assert task.X_pre.shape == (20, 1, side, side) and task.X_train.shape == (20, 1, side, side)
    assert task.X_test.shape == (10, 1, side, side)
    for labels in (task.y_pre, task.y_train, task.y_test):
        assert sorted(set(labels.tolist())) == [0, 1, 2, 3, 4]
    assert task.target_names == ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    full = transfer.transfer_task(_fake_dataset(), device="cpu", pool=1)
    assert full.X_pre.shape == (20, 1, 28, 28)
    # normalized with its own statistics; pooling keeps the mean and averages the pixels
    assert abs(full.X_pre.mean().item()) < 1e-4 and abs(full.X_pre.std().item() - 1) < 1e-3
    torch.testing.assert_close(task.X_pre, torch.nn.functional.avg_pool2d(full.X_pre, transfer.POOL))


def test_labelled_subset_is_balanced_and_seeded() -> None:
    y = torch.arange(100) % 5
    X = torch.arange(100.0)
    X1, y1 = transfer.labelled_subset(X, y, 3, torch.Generator().manual_seed(0))
    X2, _ = transfer.labelled_subset(X, y, 3, torch.Generator().manual_seed(0))
    X3, _ = transfer.labelled_subset(X, y, 3, torch.Generator().manual_seed(1))
    assert torch.bincount(y1).tolist() == [3] * 5 and torch.equal(X1, X2) and not torch.equal(X1, X3)
    assert torch.equal(y[X1.long()], y1) and len(set(X1.tolist())) == 15  # the images go with their labels
    with pytest.raises(ValueError, match="class 0 has 20 examples; cannot draw 21"):
        transfer.labelled_subset(X, y, 21, torch.Generator())


def test_new_head_replaces_fc_only(pretrained) -> None:
    model = transfer.new_head(models.FashionResNet(8, 5), 3)
    assert model.fc.in_features == 64 and model.fc.out_features == 3
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)


def test_prepare_copies_or_starts_afresh(pretrained) -> None:
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    probe = transfer.prepare("linear probe", pretrained, 5, 0, solutions.freeze_backbone)
    fine = transfer.prepare("fine-tune", pretrained, 5, 0, solutions.freeze_backbone)
    scratch = transfer.prepare("from scratch", pretrained, 5, 0, solutions.freeze_backbone)
    assert transfer.trainable(probe) == ["fc.weight", "fc.bias"]
    assert len(transfer.trainable(fine)) == len(list(fine.parameters()))
    assert torch.equal(fine.layer1[0].conv1.weight, pretrained.layer1[0].conv1.weight)
    assert not torch.equal(scratch.layer1[0].conv1.weight, pretrained.layer1[0].conv1.weight)
    assert all(torch.equal(v, pretrained.state_dict()[k]) for k, v in before.items())  # untouched
    assert all(p.requires_grad for p in pretrained.parameters())
    with pytest.raises(ValueError, match="method must be one of"):
        transfer.prepare("distill", pretrained, 5, 0, solutions.freeze_backbone)


def test_train_changes_only_trainable_parameters(task, pretrained) -> None:
    model = transfer.prepare("linear probe", pretrained, 5, 0, solutions.freeze_backbone)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    transfer.train(model, task.X_train, task.y_train, transfer.HParams(steps=3, lr=0.1, batch_size=8),
                   train_mode=solutions.train_mode)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"fc.weight", "fc.bias"}  # running statistics included: the BN layers stayed in eval mode
    transfer.train(model, task.X_train, task.y_train, transfer.HParams(steps=3, lr=0.1, batch_size=8))
    assert transfer.stats_change(transfer.running_stats(pretrained), model) > 0  # model.train(): they moved
    frozen = models.FashionResNet(8, 5).requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        transfer.train(frozen, task.X_train, task.y_train, transfer.HParams(steps=1, lr=0.1))


def test_train_is_seeded(task) -> None:
    def trained(seed: int) -> torch.Tensor:
        torch.manual_seed(0)
        model = models.FashionResNet(8, 5)
        transfer.train(model, task.X_train, task.y_train, transfer.HParams(steps=2, lr=0.1, batch_size=8), seed)
        return model.fc.weight.detach().clone()

    assert torch.equal(trained(0), trained(0)) and not torch.equal(trained(0), trained(1))


@pytest.mark.parametrize("train_mode, moved", [(solutions.train_mode, False), (nn.Module.train, True)])
def test_run_reports_accuracy_and_batch_norm_drift(task, pretrained, train_mode, moved) -> None:
    result = transfer.run("linear probe", pretrained, task, 2, transfer.HParams(steps=2, lr=0.1), 0,
                          solutions.freeze_backbone, train_mode)
    assert result.method == "linear probe" and result.labels_per_class == 2 and 0 <= result.accuracy <= 1
    assert (result.stats_change > 0) == moved and result.seconds > 0
    scratch = transfer.run("from scratch", pretrained, task, 2, transfer.HParams(steps=1, lr=0.1), 0,
                           solutions.freeze_backbone, train_mode)
    assert math.isnan(scratch.stats_change)


def test_compare_table_and_plot(task, pretrained, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    monkeypatch.setattr(transfer, "STEPS", {1: (1, 5), 2: (1, 10)})
    results = [r for seed in (0, 1) for r in transfer.compare(pretrained, task, solutions.freeze_backbone,
                                                                solutions.train_mode, seed, (1, 2), progress=False)]
    assert [(r.labels_per_class, r.method) for r in results[:3]] == [(1, m) for m in transfer.METHODS]
    table = transfer.results_table(results)
    assert set(table) == set(transfer.METHODS) and list(table["fine-tune"]) == [1, 2]
    pairs = [r.accuracy for r in results if r.method == "fine-tune" and r.labels_per_class == 2]
    assert table["fine-tune"][2] == pytest.approx(sum(pairs) / 2)
    assert transfer.as_records(results)[0]["method"] == "linear probe"
    fig, ax = plt.subplots()
    assert transfer.plot_label_curve(ax, results) is ax
    assert len(ax.get_lines()) == 3 and ax.get_xscale() == "log"
    plt.close(fig)


def test_hparams_cover_the_chapter() -> None:
    for n in transfer.LABEL_COUNTS:
        for m in transfer.METHODS:
            s = transfer.hparams(m, n)
            assert s.steps > 0 and s.lr == transfer.LR[m]
