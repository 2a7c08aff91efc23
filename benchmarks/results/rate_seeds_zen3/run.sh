#!/bin/sh
# Can `fast` spare two or three of its 10 epochs at Nadam's twice rate (0.004)? Five members at 10 and at 8 epochs, three at 7
# (other initial weights and batches, the same validation images): benchmarks/fast_search.py's fixed split (54,000 training, 6,000 validation
# Fashion-MNIST images; the test set not read), one run at a time with nothing else on the CPU.
# Member 0 at 10 epochs and at 8 at rate 0.002: ../ingredients_zen3/reference.txt, reference_8_epochs.txt.
set -e
cd "$(dirname "$0")/../../.."
out=benchmarks/results/rate_seeds_zen3
fast="-S arch=slim_cnn_bn -S epochs=10 -S dropout=0.1 -S train.lr_schedule=cosine -S train.label_smoothing=0.1
      -S train.augment.flip=true"
search() { name=$1; shift; .venv/bin/python benchmarks/fast_search.py $fast "$@" > $out/$name.txt 2>&1; }
search 8_epochs_rate_0.004_member_0 --member 0 -S epochs=8 -S train.learning_rate=0.004
search 10_epochs_member_1 --member 1
search 8_epochs_rate_0.004_member_1 --member 1 -S epochs=8 -S train.learning_rate=0.004
search 10_epochs_member_2 --member 2
search 8_epochs_rate_0.004_member_2 --member 2 -S epochs=8 -S train.learning_rate=0.004
search 7_epochs_rate_0.004_member_0 --member 0 -S epochs=7 -S train.learning_rate=0.004
search 7_epochs_rate_0.004_member_1 --member 1 -S epochs=7 -S train.learning_rate=0.004
search 7_epochs_rate_0.004_member_2 --member 2 -S epochs=7 -S train.learning_rate=0.004
# Two more members each way, run after the 8-epoch `fast` scored 0.9332 on the test set in its sitting
# (../fast_8_epochs_zen3/): the rule above, over five members.
search 10_epochs_member_3 --member 3
search 8_epochs_rate_0.004_member_3 --member 3 -S epochs=8 -S train.learning_rate=0.004
search 10_epochs_member_4 --member 4
search 8_epochs_rate_0.004_member_4 --member 4 -S epochs=8 -S train.learning_rate=0.004
