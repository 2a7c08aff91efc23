#!/bin/sh
# Does best-cpu gain from flip at test time? Its member (resnet-fashion: 30 ResNet epochs, cosine with a warm-up epoch,
# label smoothing 0.1, shift 2, flip) trained on benchmarks/fast_search.py's fixed split (54,000 training, 6,000
# validation Fashion-MNIST images; the test set not read), alone on the CPU; every test-time view scored on validation.
set -e
cd "$(dirname "$0")/../../.."
out=benchmarks/results/best_cpu_flip_zen3
resnet="-S arch=resnet -S epochs=30 -S train.lr_schedule=cosine -S train.warmup_epochs=1 -S train.label_smoothing=0.1
        -S train.augment.shift=2 -S train.augment.flip=true"
.venv/bin/python benchmarks/fast_search.py $resnet --member 0 --output /tmp/best_cpu_member_0.npz > $out/member_0.txt 2>&1
