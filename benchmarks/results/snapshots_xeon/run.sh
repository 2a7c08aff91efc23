#!/bin/sh
# Snapshot members against independent members of the same total epochs (so the same training time), on
# validation: benchmarks/fast_search.py's fixed split (54,000 training, 6,000 validation images of Fashion-MNIST),
# fast's values with no warm-up (train.snapshots needs none). One run at a time, nothing else on the CPU.
set -e
cd "$(dirname "$0")/../../.."
out=benchmarks/results/snapshots_xeon
recipe="-S arch=ensemble_cnn_bn -S train.lr_schedule=cosine -S train.label_smoothing=0.1 -S train.augment.shift=2
        -S train.augment.flip=true -S dropout=0.1"
search() { .venv/bin/python benchmarks/fast_search.py $recipe "$@"; }
if [ "$1" = long ]; then
  search -S epochs=30 --output /tmp/snap_e.npz > $out/e_one_member_30_epochs.txt
  search -S epochs=30 -S train.snapshots=3 --output /tmp/snap_f.npz > $out/f_3_snapshots_of_10_epochs.txt
  {
    echo "E: one member, 30 epochs"; .venv/bin/python benchmarks/fast_search.py --combine /tmp/snap_e.npz
    echo "F: 3 snapshots of one 30-epoch run"; .venv/bin/python benchmarks/fast_search.py --combine /tmp/snap_f.[123].npz
  } > $out/combined_long.txt
  exit
fi
search -S epochs=12 --output /tmp/snap_a.npz > $out/a_one_member_12_epochs.txt
search -S epochs=12 -S train.snapshots=3 --output /tmp/snap_b.npz > $out/b_3_snapshots_of_4_epochs.txt
for member in 0 1 2; do
  search -S epochs=4 --member $member --output /tmp/snap_c$member.npz
done > $out/c_3_members_of_4_epochs.txt
search -S epochs=12 -S train.snapshots=2 --output /tmp/snap_d.npz > $out/d_2_snapshots_of_6_epochs.txt
{
  echo "A: one member, 12 epochs"; .venv/bin/python benchmarks/fast_search.py --combine /tmp/snap_a.npz
  echo "B: 3 snapshots of one 12-epoch run"; .venv/bin/python benchmarks/fast_search.py --combine /tmp/snap_b.[123].npz
  echo "C: 3 independent members of 4 epochs"; .venv/bin/python benchmarks/fast_search.py --combine /tmp/snap_c[012].npz
  echo "D: 2 snapshots of one 12-epoch run"; .venv/bin/python benchmarks/fast_search.py --combine /tmp/snap_d.[12].npz
} > $out/combined.txt
