"""Device, mixed precision and compilation switches (config ``device`` and ``pretrain.speed``)."""

from __future__ import annotations

import contextlib
import logging

import torch

from ..core.errors import ConfigError

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` = CUDA when available, else CPU; asking for CUDA without one is a config error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("configuration", "config key 'device' is cuda but torch sees no CUDA device")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 matrix products natively on this CPU (AVX512-BF16 or AMX);
    elsewhere it emulates them, which is slower than float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def amp_dtype(setting: str | bool, device: torch.device) -> torch.dtype | None:
    """bf16 autocast: ``auto`` enables it on CUDA devices that support bf16, never on CPU, so
    that a CPU run's numbers do not depend on the CPU model; ``bf16`` asks for it anywhere."""
    if setting in ("off", False):
        return None
    if setting == "bf16":
        if device.type == "cpu" and not cpu_has_native_bf16():
            log.warning("pretrain.speed.amp is bf16 but this CPU has no native bf16 matrix products "
                        "(AVX512-BF16 or AMX): they are emulated and slower than with amp: off")
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast context for ``dtype``, or a no-op when mixed precision is off."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def maybe_compile(model, enabled: bool, device: torch.device) -> None:
    """Compile the HF encoder in place (state-dict keys unchanged); only on CUDA, where it pays off."""
    if enabled and device.type == "cuda":
        model.hf.electra.compile(dynamic=True)
        model.compiled = True  # the generator then keeps one graph (no selected-only last layer)


def maybe_fast_dropout(model, enabled: bool, device: torch.device) -> None:
    """On a CPU, draw dropout masks with model.fast_dropout (same distribution, ~4x less
    time per mask element) and keep attention on the fused SDPA kernel whenever dropout is off."""
    if enabled and device.type == "cpu":
        from ..model.fast_dropout import install

        install(model)
