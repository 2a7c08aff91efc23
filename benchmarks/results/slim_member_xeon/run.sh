# The slimmer fast member: epoch cost interleaved, then epochs on validation (README.md here).
# pool_first_bn is not in architectures.yaml: add the entry from README.md first to rerun its lines.
set -eu
F="-S train.early_stopping=false -S train.keep_best=false -S train.lr_schedule=cosine -S train.warmup_epochs=0
   -S train.label_smoothing=0.1 -S train.augment.shift=0 -S train.augment.flip=true -S dropout=0.1"
for round in 1 2; do for arch in ensemble_cnn_bn slim_cnn_bn pool_first_bn; do  # epoch_cost.log
  echo "== round $round $arch"; .venv/bin/python benchmarks/fast_search.py $F -S epochs=3 -S arch=$arch
done; done
for epochs in 6 7 8; do  # epochs.log
  echo "== slim_cnn_bn e$epochs"; .venv/bin/python benchmarks/fast_search.py $F -S epochs=$epochs -S arch=slim_cnn_bn
done
for member in 1 2; do for arch in slim_cnn_bn ensemble_cnn_bn; do  # seeds.log: two more members (seeds) of each
  echo "== member $member $arch"; .venv/bin/python benchmarks/fast_search.py --member $member $F -S epochs=8 -S arch=$arch
done; done
for member in 0 1 2; do  # epochs10.log: slim_cnn_bn at 10 epochs, about the cost of ensemble_cnn_bn's 8
  echo "== member $member slim_cnn_bn e10"; .venv/bin/python benchmarks/fast_search.py --member $member $F -S epochs=10 -S arch=slim_cnn_bn
done
