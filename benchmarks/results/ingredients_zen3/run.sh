#!/bin/sh
# The airbench ingredients docs/recipes.md listed as not tried, each alone on `fast`'s member, on validation:
# benchmarks/fast_search.py's fixed split (54,000 training, 6,000 validation images of Fashion-MNIST), member 0,
# one run at a time with nothing else on the CPU. The reference is `fast` itself (10 epochs; no warm-up, no shift).
set -e
cd "$(dirname "$0")/../../.."
out=benchmarks/results/ingredients_zen3
reference="-S arch=slim_cnn_bn -S epochs=10 -S dropout=0.1 -S train.lr_schedule=cosine -S train.label_smoothing=0.1
           -S train.augment.flip=true"
search() { name=$1; shift; .venv/bin/python benchmarks/fast_search.py $reference "$@" > $out/$name.txt 2>&1; }
search reference
search weight_averaging --optimizer use_ema=true --optimizer ema_momentum=0.999
search nesterov_sgd -S train.optimizer=sgd -S train.learning_rate=0.05 --optimizer momentum=0.9 --optimizer nesterov=true
search reference_8_epochs -S epochs=8
search weight_averaging_8_epochs -S epochs=8 --optimizer use_ema=true --optimizer ema_momentum=0.999
# 6 epochs: a faster-converging rate (Nadam at twice its rate; with batches of 256), and a second member (other
# initial weights and batches, the same validation images) of the two that differ most (14:20 to 14:45 UTC)
search reference_6_epochs -S epochs=6
search rate_0.004_6_epochs -S epochs=6 -S train.learning_rate=0.004
search batch_256_rate_0.004_6_epochs -S epochs=6 -S batch_size=256 -S train.learning_rate=0.004
search reference_6_epochs_member_1 --member 1 -S epochs=6
search rate_0.004_6_epochs_member_1 --member 1 -S epochs=6 -S train.learning_rate=0.004
