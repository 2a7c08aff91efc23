"""One exception type for user-facing errors, and the wrapper that prints them."""
import sys


class PipelineError(Exception):
    """Bad params or bad input data: reported as one line, exit code 1.

    Not a ValueError: code that turns Keras' ValueErrors into messages of its own
    (pipeline.model.build_model) must not catch and re-word these, which already
    name the key and the rule.
    """


def run_main(main, argv=None):
    """Call `main(argv)`; turn a PipelineError into one line on stderr, the last one printed, and exit 1."""
    try:
        main(argv)
    except PipelineError as error:
        sys.stdout.flush()  # anything the stage printed comes before the error line
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
