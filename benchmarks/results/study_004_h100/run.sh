# The script that produced the JSON files here, on a lent H100 machine (JAX, no TensorFlow, no
# package registry). Carried there from the checkout: .whl/ (the wheels keras==3.15.1, namex,
# optree for CPython 3.12, from `pip download`) and .gpu_data/ (the four MNIST .gz files and this
# script). Run from the checkout's root:
#   bash .gpu_data/run.sh "lenet_like:20:100 deep_custom:20:380 vgg_like:20:90"          # seed 0
#   bash .gpu_data/run.sh "deep_custom:20:165:1 vgg_like:20:65:1 lenet_like:20:55:1 ..."  # arch:epochs:timeout:seed
# (seed 0's runs wrote <arch>_20.json and its log to $OUT; the files were renamed <arch>_seed<N> here.)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, keras; print('jax', jax.__version__, 'keras', keras.__version__, jax.devices())"
for job in $1; do
  IFS=: read arch epochs limit seed <<< "$job"; seed=${seed:-0}
  echo "== $arch $epochs epochs seed $seed (timeout $limit s) $(date +%T)"
  timeout $limit python3 benchmarks/train_outside_dvc.py --arch $arch --source-dir .gpu_data --epochs $epochs --seed $seed \
    --output $OUT/${arch}_${epochs}_s$seed.json > /tmp/${arch}_${epochs}_s$seed.log 2>&1
  echo "exit $?"; grep -E "^Epoch|s/step|ms/step|^\{" /tmp/${arch}_${epochs}_s$seed.log | tail -n 1 | cut -c1-600
done
