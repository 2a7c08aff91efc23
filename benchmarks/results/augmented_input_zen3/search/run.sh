#!/bin/sh
# fast-mnist's candidates on validation (python benchmarks/fast_search.py: member 0, the fixed split of 54,000
# training and 6,000 validation images of MNIST's training set; the test set is not read). fast-mnist's values
# with fast's slim_cnn_bn member and no warm-up epoch, 6 and 7 epochs. Run from the repository root.
COMMON="-S dataset=mnist -S arch=slim_cnn_bn -S dropout=0.1 -S train.lr_schedule=cosine -S train.warmup_epochs=0
 -S train.label_smoothing=0.1 -S train.augment.shift=2 -S train.early_stopping=false -S train.keep_best=false"
for e in 6 7; do
  .venv/bin/python benchmarks/fast_search.py --member 0 --output "/tmp/slim_e$e.npz" $COMMON -S epochs=$e \
    > "benchmarks/results/augmented_input_zen3/search/slim_e$e.txt"
done
