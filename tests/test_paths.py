"""pipeline/paths.py and dvc.yaml name the same files: a path changed in one place only fails here."""
import yaml

from pipeline import paths

from conftest import ROOT, stage_entries


def declared():
    """Every path dvc.yaml's stages depend on or write, and its artifacts' paths."""
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    found = {artifact["path"] for artifact in pipeline["artifacts"].values()}
    found.update(path for path, _ in stage_entries(pipeline, ("deps", "outs", "metrics", "plots")))
    return found


def test_every_path_in_paths_is_declared_in_dvc_yaml():
    found = declared()
    for name in ("KEYS_DIR", "OWN_DATA_DIR", "RAW_DIR", "PREPARED_DIR", "MODELS_DIR", "TIMINGS_DIR",
                 "FIGURES_DIR", "MEMBERS_CSV", "TRAINING_CURVES", "METRICS", "TEST_PREDICTIONS",
                 "PER_CLASS", "REPORT_MD", "REPORT_HTML", "ENSEMBLE_MODEL", "SAVED_MODEL_DIR", "MODEL_CARD"):
        assert getattr(paths, name) in found, name
    assert paths.PREDICTIONS.rsplit("/", 1)[0] in found  # the folder is the out
    for path in (paths.model_path("${item}"), paths.member_dir("${item}"), paths.timing_path("train_${item}")):
        assert path in found, path
    for stage in ("fetch", "prepare", "evaluate", "ensemble", "export"):
        assert paths.timing_path(stage) in found, stage
