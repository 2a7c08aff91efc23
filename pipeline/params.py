"""Read params.yaml (with architectures.yaml) and check every value before any stage does work.

Each rule names what is allowed; a bad value becomes one line naming the file,
the key, the value and that rule. Unknown keys are errors too (a misspelt key
would otherwise be silently ignored and the default used).
"""
import difflib
import os

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, MappingStartEvent, NodeEvent

from pipeline.datasets import DATASETS
from pipeline.inference import VIEWS
from pipeline.metrics import ENSEMBLE_METHODS
from pipeline.options import ACCELERATE, NORMALIZE, OPTIMIZERS, PRECISIONS, SPLITS
from pipeline.paths import ARCHITECTURES, OWN_DATA_DIR
from pipeline.runtime.errors import PipelineError
from pipeline.sampling import part_size
from pipeline.user_data import USER_FORMATS


def is_int(value):
    """An integer, not a bool (YAML's true is Python's 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_int(value):
    return is_int(value) and value >= 1


def non_negative_int(value):
    return is_int(value) and value >= 0


def fraction(value):
    return _is_number(value) and 0 < value < 1


def positive_number(value):
    return _is_number(value) and value > 0


def member_list(value):
    return (isinstance(value, list) and len(value) > 0
            and all(non_negative_int(member) for member in value)
            and len(set(value)) == len(value))


def architecture(value):
    """A non-empty list of one-key mappings {LayerType: {argument: value}}."""
    return (isinstance(value, list) and len(value) > 0
            and all(isinstance(layer, dict) and len(layer) == 1
                    and isinstance(next(iter(layer)), str)
                    and isinstance(next(iter(layer.values())), (dict, type(None)))
                    for layer in value))


def dataset_name(value):
    """A built-in dataset name, or the path of a user file of a supported format inside OWN_DATA_DIR.

    fetch depends on that folder in dvc.yaml, so DVC sees the file's bytes, not only its name.
    """
    if not isinstance(value, str):
        return False
    if value in DATASETS:
        return True
    inside = os.path.normpath(value).startswith(os.path.join(OWN_DATA_DIR, ""))
    return inside and not os.path.isabs(value) and value.lower().endswith(USER_FORMATS)


def class_list(value):
    return value is None or (isinstance(value, list) and len(value) >= 2
                             and all(non_negative_int(item) for item in value) and len(set(value)) == len(value))


def lr_schedule(value):
    """"cosine", or [[epoch, factor], ...] with increasing epochs >= 0 and factors > 0."""
    return value == "cosine" or (isinstance(value, list)
            and all(isinstance(step, list) and len(step) == 2 and non_negative_int(step[0])
                    and positive_number(step[1]) for step in value)
            and all(a[0] < b[0] for a, b in zip(value, value[1:])))


# Keras activation names a run may put in place of an architecture's own (see pipeline.model.override).
ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "selu", "gelu", "swish", "silu", "softplus", "softsign",
               "leaky_relu", "relu6", "hard_sigmoid", "mish", "exponential", "linear")
LAYER_ACTIVATIONS = ACTIVATIONS + ("softmax",)  # what an architecture's own layers may name (a test: all Keras')
SHOWN_LENGTH = 100  # a value longer than this is cut in an error line, which stays readable (under ~300 characters)


def shown(value):
    """repr(value), cut to SHOWN_LENGTH characters."""
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else text[:SHOWN_LENGTH - 3] + "..."

# key -> (check, what is allowed). Nested dicts are sections.
SCHEMA = {
    "dataset": (dataset_name, "one of " + ", ".join(sorted(DATASETS)) + ", or the path of your own "
                + ", ".join(USER_FORMATS) + f" file inside {OWN_DATA_DIR}/ (DVC tracks that folder's content)"),
    "limit": (lambda v: v is None or positive_int(v), "null (all images) or an integer >= 1"),
    "classes": (class_list, "null (all classes) or a list of at least 2 distinct class ids, e.g. [0, 1, 2, 3, 4]"),
    "normalize": (lambda v: v in NORMALIZE, "one of " + ", ".join(NORMALIZE)),
    "split": (lambda v: v in SPLITS, "one of " + ", ".join(SPLITS)),
    "test_fraction": (lambda v: v is None or fraction(v),
                      "null (the dataset's own test set) or a number between 0 and 1, exclusive"),
    "allow_pickle": (lambda v: isinstance(v, bool), "true or false"),
    "seed": (non_negative_int, "an integer >= 0"),
    "members": (member_list, "a non-empty list of distinct integers >= 0, e.g. [0, 1, 2]"),
    "epochs": (positive_int, "an integer >= 1"),
    "batch_size": (positive_int, "an integer >= 1"),
    "arch": (lambda v: isinstance(v, str) and v != "", f"the name of an entry of {ARCHITECTURES}"),
    "activation": (lambda v: v is None or v in ACTIVATIONS, "null (each architecture's own) or one of "
                   + ", ".join(ACTIVATIONS)),
    "dropout": (lambda v: v is None or (_is_number(v) and 0 <= v < 1),
                "null (each architecture's own) or a number from 0 up to (not including) 1"),
    "max_params": (lambda v: v is None or positive_int(v), "null (no budget) or an integer >= 1"),
    "train": {
        "optimizer": (lambda v: v in OPTIMIZERS, "one of " + ", ".join(OPTIMIZERS)),
        "learning_rate": (lambda v: v is None or positive_number(v),
                          "null (Keras 2's default for the optimizer) or a number > 0"),
        "validation_fraction": (fraction, "a number between 0 and 1, exclusive"),
        "early_stopping": (lambda v: isinstance(v, bool), "true or false"),
        "patience": (positive_int, "an integer >= 1"),
        "keep_best": (lambda v: isinstance(v, bool), "true or false"),
        "lr_schedule": (lr_schedule, "cosine, or a list of [epoch, factor] pairs with increasing epochs >= 0 "
                        "and factors > 0, e.g. [[80, 0.1], [120, 0.01]]; [] for a constant rate"),
        "warmup_epochs": (non_negative_int, "an integer >= 0"),
        "snapshots": (positive_int, "an integer >= 1 (1: one model per member)"),
        "label_smoothing": (lambda v: _is_number(v) and 0 <= v < 1, "a number from 0 up to (not including) 1"),
        "augment": {
            "shift": (lambda v: non_negative_int(v) and v <= 14, "an integer from 0 to 14 (pixels)"),
            "rotate": (lambda v: _is_number(v) and 0 <= v <= 180, "a number from 0 to 180 (degrees)"),
            "zoom": (lambda v: _is_number(v) and 0 <= v < 1, "a number from 0 up to (not including) 1"),
            "flip": (lambda v: isinstance(v, bool), "true or false"),
        },
        "precision": (lambda v: v in PRECISIONS, "one of " + ", ".join(PRECISIONS)),
        "accelerate": (lambda v: v in ACCELERATE, "one of " + ", ".join(ACCELERATE)),
        "threads": (lambda v: v is None or positive_int(v), "null (one per CPU this process may run on) or an "
                    "integer >= 1"),
    },
    "ensemble": {
        "method": (lambda v: v in ENSEMBLE_METHODS, "one of " + ", ".join(ENSEMBLE_METHODS)),
        "tta": (lambda v: isinstance(v, list) and all(name in VIEWS for name in v) and len(set(v)) == len(v),
                "a list of distinct views from " + ", ".join(VIEWS) + "; [] for none"),
    },
    "report": {
        "dpi": (lambda v: positive_int(v) and v <= 600, "an integer from 1 to 600"),
        "samples_per_class": (lambda v: positive_int(v) and v <= 50, "an integer from 1 to 50"),
        "misclassified": (lambda v: positive_int(v) and v <= 200, "an integer from 1 to 200"),
    },
}


def _fail(path, key, message):
    raise PipelineError(f"{path}: {key}: {message}")


def _check_section(values, schema, path, prefix=""):
    if not isinstance(values, dict):
        _fail(path, prefix.rstrip(".") or "(top level)",
              f"{shown(values)} is not a mapping; allowed keys: {', '.join(schema)}")
    for key in values:
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            _fail(path, f"{prefix}{key}", f"unknown key{hint}; allowed keys here: {', '.join(schema)}")
    for key, rule in schema.items():
        name = f"{prefix}{key}"
        if key not in values:
            _fail(path, name, "missing; it is required")
        if isinstance(rule, dict):
            _check_section(values[key], rule, path, name + ".")
            continue
        check, allowed = rule
        if not check(values[key]):
            _fail(path, name, f"{shown(values[key])} is not allowed; allowed: {allowed}")


def validate(params, path="params.yaml", architectures_path=ARCHITECTURES):
    """Raise PipelineError naming the first bad key of `params`; return `params`.

    `params` holds params.yaml's values and, under "architectures", architectures.yaml's (load_params)."""
    _check_section({key: value for key, value in params.items() if key != "architectures"}
                   if isinstance(params, dict) else params, SCHEMA, path)
    architectures = params.get("architectures")
    if not (isinstance(architectures, dict) and architectures):
        _fail(architectures_path, "(top level)", f"{shown(architectures)} is not allowed; allowed: a mapping of "
                                                 "names to architectures")
    for name, layers in architectures.items():
        _check_architecture(name, layers, architectures_path)
    if params["arch"] not in architectures:
        _fail(path, "arch", f"{params['arch']!r} is not allowed; allowed: one of " + ", ".join(architectures))
    if params["split"] == "none":  # both watch the validation set, which split none does not have
        for key in ("early_stopping", "keep_best"):
            if params["train"][key]:
                _fail(path, f"train.{key}", "true is not allowed with split: none (no validation set); "
                                            "allowed: false")
    warmup = params["train"]["warmup_epochs"]
    if warmup and params["train"]["lr_schedule"] != "cosine":
        _fail(path, "train.warmup_epochs", f"{warmup} is not allowed with train.lr_schedule "
              f"{params['train']['lr_schedule']!r}; allowed: 0 (a warm-up leads into cosine)")
    if warmup >= params["epochs"]:
        _fail(path, "train.warmup_epochs", f"{warmup} is not allowed with epochs {params['epochs']}; "
                                           "allowed: fewer warm-up epochs than epochs")
    _check_snapshots(params, path)
    _check_limit(params, path)
    return params


def _check_snapshots(params, path):
    """train.snapshots K > 1: `epochs` split into K cosine cycles, each ending in a snapshot, so the schedule must be
    cosine and every snapshot the end of its cycle (no early stop, no best epoch kept)."""
    train, snapshots = params["train"], params["train"]["snapshots"]
    if snapshots == 1:
        return
    if train["lr_schedule"] != "cosine":
        _fail(path, "train.snapshots", f"{snapshots} is not allowed with train.lr_schedule {train['lr_schedule']!r}; "
              "allowed: 1, or set train.lr_schedule: cosine (each snapshot ends a cosine cycle)")
    for key in ("early_stopping", "keep_best"):
        if train[key]:
            _fail(path, f"train.{key}", f"true is not allowed with train.snapshots {snapshots} (each snapshot is the "
                                        "last epoch of its cycle); allowed: false")
    if params["epochs"] % snapshots:
        _fail(path, "train.snapshots", f"{snapshots} does not divide epochs {params['epochs']}; allowed: a divisor "
                                       "of epochs (cycles of equal length)")
    if train["warmup_epochs"]:
        _fail(path, "train.warmup_epochs", f"{train['warmup_epochs']} is not allowed with train.snapshots "
                                           f"{snapshots}; allowed: 0 (every cycle starts at the full rate)")


def _check_architecture(name, layers, path):
    """Each architecture is checked on its own, so an error names it and shows only its value."""
    key = str(name)
    if not architecture(layers):
        _fail(path, key, f"{shown(layers)} is not allowed; allowed: a non-empty list of {{LayerType: {{argument: "
                         "value}}, e.g. [{Conv2D: {filters: 16, kernel_size: 3}}, {Flatten: {}}]")
    for index, layer in enumerate(layers):
        arguments = next(iter(layer.values())) or {}
        activation = arguments.get("activation")
        if activation is not None and activation not in LAYER_ACTIVATIONS:
            close = difflib.get_close_matches(str(activation), LAYER_ACTIVATIONS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            _fail(path, f"{key}[{index}].activation", f"{shown(activation)} is not allowed{hint}; allowed: null or "
                                                     "one of " + ", ".join(LAYER_ACTIVATIONS))


def smallest_limit(validation_fraction):
    """The smallest number of images that `validation_fraction` splits into two non-empty parts.

    The rounding is member_split's (pipeline.sampling.part_size).
    """
    return next(size for size in range(2, 10**6)
                if 1 <= part_size(size, validation_fraction) <= size - 1)


def _check_limit(params, path):
    """A limit too small for the validation split is refused here, before prepare rewrites data/prepared."""
    if params["limit"] is None or params["split"] == "none":
        return
    fraction = params["train"]["validation_fraction"]
    smallest = smallest_limit(fraction)
    if params["limit"] < smallest:
        _fail(path, "limit", f"{params['limit']} is not allowed with train.validation_fraction {fraction} "
                             f"(no image left for training or validation); allowed: null or an integer >= {smallest}")


MAX_YAML_NODES = 100_000  # values a YAML file may hold, aliases expanded: the shipped files hold under 1,000
# Lists and mappings inside one another: the shipped files nest 5 deep at most; ruamel's loader recurses once a
# level and fails (RecursionError, a traceback) a few hundred deep.
MAX_YAML_DEPTH = 50
MERGE_KEY = "<<"  # `<<: *recipe` (YAML's merge key): a recipe that starts from another


def read_yaml(text, merge_keys=False):
    """`text` parsed exactly as DVC parses params.yaml (dvc.utils.serialize.parse_yaml: ruamel.yaml, safe, YAML 1.2).

    PyYAML (YAML 1.1) reads some scalars otherwise: `010` as 8, `1:30` as 90, `yes` as true, `1e-3` as a
    string; then the code would train with values other than those dvc.lock records. Aliases are checked first
    (check_aliases), before any Python object is built.
    """
    check_aliases(text, merge_keys)
    return YAML(typ="safe").load(text)


class _Open:
    """A sequence or mapping being parsed: its size so far (aliases expanded), its anchor, where its children sit."""

    def __init__(self, event, merged):
        self.size, self.anchor, self.mapping = 1, event.anchor, isinstance(event, MappingStartEvent)
        self.merged = merged and not self.mapping  # `<<: [*a, *b]`: each entry is merged
        self.children, self.merge_key = 0, False

    def at_merge_value(self):
        """Whether the next child is the value of `<<`, or an entry of a list that is."""
        return self.merged or (self.mapping and self.children % 2 == 1 and self.merge_key)

    def saw(self, event):
        """`event` is the next child: a mapping's keys and values alternate, and a `<<` key makes its value merged."""
        self.merge_key = self.mapping and self.children % 2 == 0 and _is_merge_key(event)
        self.children += 1


def check_aliases(text, merge_keys=False):
    """Refuse, from the parser's events alone, YAML that expands beyond MAX_YAML_NODES values once its aliases are
    followed (an alias bomb: 400 bytes, 387 million values), nests deeper than MAX_YAML_DEPTH, or holds an alias
    (`*name`) anywhere but as a merge key's value, and there only with `merge_keys`. One PipelineError naming the
    line; undefined aliases and syntax errors are left to the loader, which reports them. Returns the number of
    values, aliases expanded."""
    sizes, stack, total = {}, [], 0
    for event in YAML(typ="safe").parse(text):
        if isinstance(event, CollectionEndEvent):
            done = stack.pop()
            _record(sizes, done.anchor, done.size, stack)
            continue
        if not isinstance(event, NodeEvent):
            continue
        merged = bool(stack) and stack[-1].at_merge_value()
        size = _alias_size(event, sizes, stack, merged and merge_keys) if isinstance(event, AliasEvent) else 1
        total += size
        if total > MAX_YAML_NODES:
            raise PipelineError(f"line {event.start_mark.line + 1}: more than {MAX_YAML_NODES:,} values once its "
                                f"aliases are expanded (an alias bomb?); allowed: at most {MAX_YAML_NODES:,}")
        if stack:
            stack[-1].saw(event)
        if isinstance(event, CollectionStartEvent):
            if len(stack) == MAX_YAML_DEPTH:
                raise PipelineError(f"line {event.start_mark.line + 1}: nested deeper than {MAX_YAML_DEPTH} levels; "
                                    f"allowed: at most {MAX_YAML_DEPTH}")
            stack.append(_Open(event, merged))
        else:
            _record(sizes, None if isinstance(event, AliasEvent) else event.anchor, size, stack)
    return total


def _record(sizes, anchor, size, stack):
    """A finished value of `size` values: its anchor's size, and part of the value it sits in."""
    if anchor is not None:
        sizes[anchor] = size
    if stack:
        stack[-1].size += size


def _is_merge_key(event):
    return getattr(event, "value", None) == MERGE_KEY and getattr(event, "style", "") is None


def _alias_size(event, sizes, stack, allowed):
    """The number of values that the alias `event` stands for; PipelineError where no alias may stand."""
    where = f"line {event.start_mark.line + 1}: *{event.anchor}"
    if any(each.anchor == event.anchor for each in stack):
        raise PipelineError(f"{where} is an alias inside the value it names (endless); allowed: no such alias")
    if not allowed:
        raise PipelineError(f"{where} is an alias; allowed: each value written out (aliases only as `{MERGE_KEY}: "
                            f"*name` in recipes.yaml)")
    return sizes.get(event.anchor, 0)  # undefined: the loader says so


def read_file(path, merge_keys=False):
    """The YAML in `path`, parsed as DVC parses it; one PipelineError naming the file if it cannot be."""
    try:
        with open(path, encoding="utf-8") as handle:
            return read_yaml(handle.read(), merge_keys)
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        line = error.object[:error.start].count(b"\n") + 1
        raise PipelineError(f"{path}: byte 0x{error.object[error.start]:02x} at line {line} is not UTF-8; allowed: "
                            "a UTF-8 text file (save it as UTF-8 in your editor)") from None
    except PipelineError as error:
        raise PipelineError(f"{path}: {error}") from None
    except YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        problem = str(getattr(error, "problem", None) or error).splitlines()[0]
        raise PipelineError(f"{path}: not valid YAML{line}: {problem[:200]}") from None


def load_params(path="params.yaml"):
    """The validated contents of `path`, with those of architectures.yaml beside it under "architectures"."""
    params = read_file(path)
    architectures_path = os.path.join(os.path.dirname(path), ARCHITECTURES)
    if isinstance(params, dict):  # else validate names what is wrong with the file
        if "architectures" in params:
            _fail(path, "architectures", f"unknown key; the architectures live in {ARCHITECTURES}")
        params["architectures"] = read_file(architectures_path)
    return validate(params, path, architectures_path)
