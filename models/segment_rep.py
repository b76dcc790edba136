"""SegmentRep: Ultralytics' Segment head with RepVGG-style 3×3 convs (as YOLOv7 puts RepConv in its head).

The box branch (cv2), the mask-coefficient branch (cv4) and the mask Proto's two 3×3 convs train as RepVGGConv
(3×3+BN, 1×1+BN, identity BN where shapes allow) and deploy as one conv each, so the head gets RepVGG's richer
training-time structure at no inference cost; the class branch (cv3, depthwise convs) stays as Ultralytics
builds it. Everything else — outputs, loss, stride, bias init, export layout — is Ultralytics' Segment.
Deploy form (`reparameterize_model`, or `deploy=True`): those convs are single convs with bias, BN folded
into the stock convs, and the Proto becomes `SubPixelProto`.
"""
from __future__ import annotations

from torch import nn
from ultralytics.nn.modules.conv import Conv
from ultralytics.nn.modules.head import Segment

from skyseg.models.reparam import fold_stock_convs
from skyseg.models.repconv import RepVGGConv
from skyseg.models.subpixel_proto import SubPixelProto


def _rep_conv(m: nn.Module, deploy: bool) -> nn.Module:
    """RepVGGConv in place of a stride-1 3×3 Ultralytics Conv (same channels and SiLU); other modules unchanged."""
    if type(m) is Conv and m.conv.kernel_size == (3, 3) and m.conv.stride == (1, 1) and m.conv.groups == 1:
        return RepVGGConv(m.conv.in_channels, m.conv.out_channels, 3, 1, deploy=deploy)
    return m


class SegmentRep(Segment):
    """Segment(nc, nm, npr, reg_max, end2end, ch) whose 3×3 box/mask/proto convs are RepVGG blocks."""

    def __init__(self, nc: int = 80, nm: int = 32, npr: int = 256, reg_max: int = 16, end2end: bool = False,
                 ch: list[int] | tuple[int, ...] = (), deploy: bool = False) -> None:
        super().__init__(nc, nm, npr, reg_max, end2end, ch)
        for branch in (*self.cv2, *self.cv4):
            for i, m in enumerate(branch):
                branch[i] = _rep_conv(m, deploy)
        self.proto.cv1 = _rep_conv(self.proto.cv1, deploy)
        self.proto.cv2 = _rep_conv(self.proto.cv2, deploy)
        if deploy:
            fold_stock_convs(self)
            self.proto = SubPixelProto(ch[0], npr, nm)
