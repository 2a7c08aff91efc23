"""The run machinery: errors, atomic files, processes, stage keys, the runners. Nothing here changes what a stage
computes, so no module of this package is in a stage's key (pipeline.runtime.keys)."""
