"""How far a run is, while it trains: member k of N, a line per epoch, each member's time and the run's end.

live/progress.json (pipeline.paths.PROGRESS, a top-level metrics file of dvc.yaml) holds the same for
`dvc exp show`'s workspace row, as the columns progress.*: `done` members `of` the run's, and while one
trains, which `member`, its `epoch` and `val_accuracy` so far. When a member ends only `done` and `of` are
left, so a finished run always leaves the same two values and `dvc exp show --only-changed` hides them.

DVC runs train@<i> in the order of `members`, so member k of N means the k-1 before it are done (trained
now or already up to date). The end is estimated from the wall times of those members
(reports/timings/train_<i>.json), as if every member after this one trains.
"""
import datetime
import os
import time

from pipeline.members import HISTORY_KEYS
from pipeline.paths import PROGRESS, member_stage, timing_path
from pipeline.runtime.files import read_json, write_json
from pipeline.runtime.quiet_keras import keras


def duration(seconds):
    """`seconds` as people read it: 42 s, 3 min 41 s, 2 h 05 min."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def clock(moment, now):
    """The time of day of `moment`, with its date when that is not `now`'s."""
    return moment.strftime("%H:%M" if moment.date() == now.date() else "%Y-%m-%d %H:%M")


class RunProgress(keras.callbacks.Callback):
    """Member `member` of `members`: progress.json at its start and at each epoch's end; with `lines`, also one
    line per epoch on stdout (for logs and runners, where Keras' progress bar would be noise)."""

    def __init__(self, member, members, epochs, lines):
        super().__init__()
        self.member, self.members, self.epochs, self.lines = member, list(members), epochs, lines
        self.position = self.members.index(member) + 1  # counted from 1: "member 4 of 10"
        self.name = f"train@{member}"

    def first_line(self):
        return f"{self.name}: member {self.position} of {len(self.members)}, at most {self.epochs} epochs"

    def write(self, done, **training):
        write_json(PROGRESS, {"progress": {"done": done, "of": len(self.members), **training}})

    def on_train_begin(self, logs=None):
        self.write(self.position - 1, member=self.member, epoch=0)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        figures = {"val_accuracy": round(float(logs["val_accuracy"]), 4)} if "val_accuracy" in logs else {}
        self.write(self.position - 1, member=self.member, epoch=epoch + 1, **figures)
        if self.lines:
            shown = ", ".join(f"{key} {float(logs[key]):.4f}" for key in HISTORY_KEYS if key in logs)
            took = duration(time.perf_counter() - self.epoch_start)
            print(f"{self.name}: epoch {epoch + 1}/{self.epochs} in {took}: {shown}", flush=True)

    def last_line(self, now=None):
        """Mark this member done in progress.json; the line saying its time and, from the members done, the run's
        estimated end. Call it after the member's timing is written."""
        self.write(self.position)
        now = now or datetime.datetime.now()
        done = [timing_path(member_stage(member)) for member in self.members[:self.position]]  # this one's last
        times = [read_json(path)["wall_time_s"] for path in done if os.path.exists(path)]
        took = times[-1]
        line = f"{self.name}: member {self.position} of {len(self.members)} done in {duration(took)}"
        left = len(self.members) - self.position
        if not left:
            return f"{line}; the last member"
        each = sum(times) / len(times)
        end = now + datetime.timedelta(seconds=each * left)
        return f"{line}; {left} left at about {duration(each)} each: the members should end about {clock(end, now)}"
