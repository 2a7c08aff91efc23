"""The named choices of params.yaml that the code implements, one registry each.

Adding an optimizer or a split method is one entry here (and, for a split, its rule
in pipeline.training.member_split). Keras-free, so checking params.yaml stays quick.
Ensemble methods are registered beside their code, in pipeline.metrics.ENSEMBLE_METHODS.
"""
# train.optimizer -> (Keras optimizer class name, its learning rate in Keras 2). The studies ran Keras 2,
# whose defaults differ from Keras 3's (Nadam 0.001, Adadelta 0.001): learning_rate: null means these.
OPTIMIZERS = {"nadam": ("Nadam", 0.002), "adam": ("Adam", 0.001), "adadelta": ("Adadelta", 1.0),
              "sgd": ("SGD", 0.01)}

# split -> how the report describes it
SPLITS = {"per_member": "each member holds out its own validation part",
          "fixed": "one validation part held out for every member",
          "none": "all used for training"}

NORMALIZE = ("scale", "standardize")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")  # see pipeline.acceleration.choose_precision
ACCELERATE = ("auto", "off")  # see pipeline.acceleration.choose_acceleration
