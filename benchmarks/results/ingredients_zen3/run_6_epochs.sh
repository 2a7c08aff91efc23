#!/bin/sh
# A faster-converging `fast` at 6 epochs, on validation: Nadam at twice its rate, and with batches of 256 (fewer,
# cheaper steps); the same split, member 0, one run at a time with nothing else on the CPU.
set -e
cd "$(dirname "$0")/../../.."
out=benchmarks/results/ingredients_zen3
reference="-S arch=slim_cnn_bn -S epochs=6 -S dropout=0.1 -S train.lr_schedule=cosine -S train.label_smoothing=0.1
           -S train.augment.flip=true"
search() { name=$1; shift; .venv/bin/python benchmarks/fast_search.py $reference "$@" > $out/$name.txt 2>&1; }
search reference_6_epochs
search rate_0.004_6_epochs -S train.learning_rate=0.004
search batch_256_rate_0.004_6_epochs -S batch_size=256 -S train.learning_rate=0.004
# a second member (other initial weights and batches, the same validation images) of the two that differ most
search reference_6_epochs_member_1 --member 1
search rate_0.004_6_epochs_member_1 --member 1 -S train.learning_rate=0.004
