#!/bin/sh
# The next `fast` chosen on validation: benchmarks/fast_search.py's fixed split (54,000 training, 6,000 validation
# images of Fashion-MNIST), member 0, one run at a time with nothing else on the CPU. The test set is not read.
set -e
cd "$(dirname "$0")/../../.."
out=benchmarks/results/fast_search_xeon
cnn="-S arch=ensemble_cnn_bn -S train.lr_schedule=cosine -S train.label_smoothing=0.1 -S train.augment.shift=0
     -S train.augment.flip=true -S dropout=0.1"
batch512="-S batch_size=512 -S train.learning_rate=0.004"
search() { name=$1; shift; .venv/bin/python benchmarks/fast_search.py "$@" > $out/$name.txt 2>&1; }
search bn_e6 $cnn $batch512 -S epochs=6
search bn_e8 $cnn $batch512 -S epochs=8
search nobn_e8 $cnn $batch512 -S epochs=8 -S arch=ensemble_cnn
search resnet_e10 -S arch=resnet -S epochs=10 -S train.lr_schedule=cosine -S train.warmup_epochs=1 \
    -S train.label_smoothing=0.1 -S train.augment.shift=2 -S train.augment.flip=true
search b128_e8 $cnn -S epochs=8
