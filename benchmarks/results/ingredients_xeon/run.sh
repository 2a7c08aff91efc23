#!/bin/sh
# Each ingredient of the fast recipe switched off (or changed) alone, on validation: benchmarks/fast_search.py's fixed
# split (54,000 training, 6,000 validation images of Fashion-MNIST), 12 epochs, member 0, one run at a time with
# nothing else on the CPU. The reference is ../snapshots_xeon/a_one_member_12_epochs.txt (the same values).
set -e
cd "$(dirname "$0")/../../.."
out=benchmarks/results/ingredients_xeon
reference="-S arch=ensemble_cnn_bn -S epochs=12 -S train.lr_schedule=cosine -S train.label_smoothing=0.1
           -S train.augment.shift=2 -S train.augment.flip=true -S dropout=0.1"
search() { name=$1; shift; .venv/bin/python benchmarks/fast_search.py $reference "$@" > $out/$name.txt 2>&1; }
search label_smoothing_0 -S train.label_smoothing=0
search label_smoothing_0.2 -S train.label_smoothing=0.2
search no_flip -S train.augment.flip=false
search no_shift -S train.augment.shift=0
search no_batchnorm -S arch=ensemble_cnn
search warmup_1 -S train.warmup_epochs=1
search batch_512 -S batch_size=512 -S train.learning_rate=0.004
search dropout_architecture -S dropout=null
