"""One optimiser step and one evaluation pass for each pretraining stage.

Losses are the ones HF computes (reference 5, 6), written as sums divided by the batch's
count so that the length groups of one batch add up to exactly the batch loss:

* generator: cross-entropy over the table rows at the selected positions (HF's masked-LM
  loss with -100 elsewhere);
* discriminator: BCE-with-logits over every attended position (HF's
  ``ElectraForPreTraining`` loss), labels 1 where the generator's replacement differs from
  the original taxon.

A batch in which nothing is selected (possible only for tiny samples) makes no update;
the original's mean over zero targets was NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model.electra import Discriminator, Generator
from .batching import Batch, Group, derive_seed
from .device import autocast

TOP_K = (1, 3, 5, 10)


def topk_hits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Number of targets among the top 1, 3, 5 and 10 logits of their row, as floats."""
    ranked = logits.topk(min(max(TOP_K), logits.shape[-1]), dim=-1).indices == targets[:, None]
    return torch.stack([ranked[:, :k].any(dim=-1).sum() for k in TOP_K]).float()


class GeneratorTask:
    """Masked-LM training of the generator."""

    name = "generator"
    train_metrics = tuple(f"train_top{k}_accuracy" for k in TOP_K)

    def __init__(self, model: Generator, optimizer: torch.optim.Optimizer, device: torch.device,
                 amp: torch.dtype | None, masked_only: bool):
        self.model, self.optimizer, self.device, self.amp, self.masked_only = model, optimizer, device, amp, masked_only

    def train_batch(self, batch: Batch) -> tuple[torch.Tensor, int]:
        """One optimiser step; returns (sums of [loss, top-1/3/5/10 hits], number of targets).

        The hits are what the original logged per batch (reference 5), read off the logits the
        loss already needed with ``topk`` instead of its full sort of all 26,729 scores."""
        total = batch.n_selected
        sums = torch.zeros(1 + len(TOP_K), device=self.device)
        if total == 0:
            return sums, 0
        self.model.train()
        for group in batch.groups:
            g = group.to(self.device)
            with autocast(self.device, self.amp):
                logits = self.model.selected_logits(g.inputs, g.attention_mask, g.selected, self.masked_only)
            targets = g.ids[g.selected]
            loss = F.cross_entropy(logits.float(), targets, reduction="sum")
            (loss / total).backward()
            sums += torch.cat([loss.detach()[None], topk_hits(logits.detach(), targets)])
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return sums, total

    @torch.no_grad()
    def evaluate(self, batches: list[Batch]) -> dict[str, float]:
        """Held-out masked-LM loss and top-k accuracy at the selected positions."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        hits = torch.zeros(len(TOP_K), device=self.device)
        count = 0
        for batch in batches:
            for group in batch.groups:
                g = group.to(self.device)
                if not bool(g.selected.any()):
                    continue
                with autocast(self.device, self.amp):
                    logits = self.model.masked_logits(g.inputs, g.attention_mask, g.selected).float()
                targets = g.ids[g.selected]
                loss_sum += F.cross_entropy(logits, targets, reduction="sum")
                hits += topk_hits(logits, targets)
                count += targets.numel()
        metrics = {"test_loss": float(loss_sum) / max(count, 1)}
        metrics.update({f"top{k}_accuracy": float(h) / max(count, 1) for k, h in zip(TOP_K, hits)})
        return metrics


class DiscriminatorTask:
    """Replaced-token detection against a frozen generator (swapped by :meth:`set_generator`)."""

    name = "discriminator"
    train_metrics = ("train_rtd_accuracy",)

    def __init__(self, model: Discriminator, optimizer: torch.optim.Optimizer, device: torch.device,
                 amp: torch.dtype | None, masked_only: bool, replacement: str):
        self.model, self.optimizer, self.device, self.amp = model, optimizer, device, amp
        self.masked_only, self.replacement = masked_only, replacement
        self.generator: Generator | None = None

    def set_generator(self, generator: Generator) -> None:
        self.generator = generator.to(self.device).eval()
        for p in self.generator.parameters():
            p.requires_grad_(False)

    def corrupt(self, g: Group, rng: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Discriminator input (generator predictions at the selected positions) and RTD labels."""
        with autocast(self.device, self.amp):
            proposed = self.generator.replacements(g.inputs, g.attention_mask, g.selected, self.replacement,
                                                   rng, self.masked_only)
        disc_ids = g.ids.clone()
        disc_ids[g.selected] = proposed
        labels = torch.zeros(g.ids.shape, device=self.device)
        labels[g.selected] = (g.ids[g.selected] != proposed).float()
        return disc_ids, labels

    def _rng(self, batch: Batch) -> torch.Generator | None:
        if self.replacement != "sample":
            return None
        return torch.Generator(device=self.device).manual_seed(derive_seed(batch.seed, 1))

    def train_batch(self, batch: Batch) -> tuple[torch.Tensor, int]:
        """One optimiser step; returns (sums of [loss, correct RTD calls], attended positions)."""
        total = batch.n_attended
        self.model.train()
        rng = self._rng(batch)
        sums = torch.zeros(2, device=self.device)
        for group in batch.groups:
            g = group.to(self.device)
            disc_ids, labels = self.corrupt(g, rng)
            with autocast(self.device, self.amp):
                logits = self.model.rtd_logits(disc_ids, g.attention_mask)
            active = g.attention_mask.bool()
            logits, labels = logits[active].float(), labels[active]
            loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="sum")
            (loss / total).backward()
            sums += torch.stack([loss.detach(), ((logits.detach() > 0).float() == labels).sum().float()])
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return sums, total

    @torch.no_grad()
    def evaluate(self, batches: list[Batch]) -> dict[str, float]:
        """Held-out RTD loss and accuracy (all attended positions, and the selected ones alone)."""
        self.model.eval()
        sums = torch.zeros(5, device=self.device)  # loss, correct, attended, correct@selected, replaced
        n_selected = 0
        for batch in batches:
            rng = self._rng(batch)
            for group in batch.groups:
                g = group.to(self.device)
                disc_ids, labels = self.corrupt(g, rng)
                with autocast(self.device, self.amp):
                    logits = self.model.rtd_logits(disc_ids, g.attention_mask).float()
                active = g.attention_mask.bool()
                correct = (logits > 0).float() == labels
                sums += torch.stack([
                    F.binary_cross_entropy_with_logits(logits[active], labels[active], reduction="sum"),
                    correct[active].sum(), active.sum(), correct[g.selected].sum(), labels[g.selected].sum(),
                ])
                n_selected += int(g.selected.sum())
        loss, correct, attended, correct_sel, replaced = (float(v) for v in sums)
        return {
            "test_loss": loss / max(attended, 1),
            "rtd_accuracy": correct / max(attended, 1),
            "rtd_accuracy_selected": correct_sel / max(n_selected, 1),
            "replaced_fraction": replaced / max(n_selected, 1),
        }
