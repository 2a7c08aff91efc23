"""One exception type for user-facing errors, and the wrapper that prints them."""
import sys


class PipelineError(ValueError):
    """Bad params or bad input data: reported as one line, exit code 1."""


def run_main(main, argv=None):
    """Call `main(argv)`; turn a PipelineError into one line on stderr and exit 1."""
    try:
        main(argv)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
