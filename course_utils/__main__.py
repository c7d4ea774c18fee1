"""The course's command line: ``python -m course_utils <command>`` (without a command: this list).

    doctor                  is this environment ready? (versions, device, data, Jupyter kernel, settings)
    release [--check]       write notebooks/ from solutions/, or check that they are in sync
    run [--profile P] [NB]  execute solution notebooks headless; numbers into build/metrics.json
    data [--download]       show the MNIST source; download full MNIST into the cache

``run`` uses the profile given with ``--profile``, else ``$COURSE_PROFILE``, else 'lecture'.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .config import PROFILE_ENV, PROFILE_HELP, PROFILES
from .runner import DEFAULT_PROFILE


def _doctor(args: argparse.Namespace) -> int:
    from . import doctor

    return doctor.main()


def _release(args: argparse.Namespace) -> int:
    from .release import release

    try:
        return 0 if release(args.root, check=args.check) else 1
    except ValueError as err:
        print(f"release failed: {err}", file=sys.stderr)
        return 1


def run_profile(explicit: str | None) -> str:
    """The profile of ``run``: an explicit ``--profile`` wins, else ``$COURSE_PROFILE``, else 'lecture'.

    Raises ``ValueError`` naming the variable when ``$COURSE_PROFILE`` is not a profile.
    """
    if explicit:
        return explicit
    from .config import check_profile

    value = os.environ.get(PROFILE_ENV, "").strip()
    if not value:
        return DEFAULT_PROFILE
    try:
        return check_profile(value)
    except ValueError as err:
        raise ValueError(f"environment variable {PROFILE_ENV}: {err}") from None


def _run(args: argparse.Namespace) -> int:
    from .runner import run_course

    try:
        return run_course(args.notebooks, profile=run_profile(args.profile), root=args.root)
    except ValueError as err:
        args.parser.error(str(err))  # exits with status 2 and the usage line
    return 2


def _data(args: argparse.Namespace) -> int:
    from .data import DataSourceError, describe_source, download_mnist

    if args.download:
        print("Downloading MNIST with torchvision (about 12 MB) ...", flush=True)
        try:
            folder = download_mnist()
        except DataSourceError as err:
            print(f"download failed: {err}", file=sys.stderr)
            return 1
        print(f"MNIST is in {folder}")
    try:
        print(f"MNIST source: {describe_source()}")
    except Exception as err:
        print(f"no readable MNIST source: {err}", file=sys.stderr)
        return 1
    if not args.download:
        print("(`python -m course_utils data --download` fetches full MNIST into the cache)")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from .grading.grade import run_from_args

    return run_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per task."""
    parser = argparse.ArgumentParser(prog="python -m course_utils",
                                     description="Deep Generative Models course tools.",
                                     epilog="`python -m course_utils COMMAND --help` shows a command's options.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    doctor = commands.add_parser("doctor", help="check this environment: versions, device, data, Jupyter kernel")
    doctor.set_defaults(handler=_doctor)

    release = commands.add_parser("release", help="write the student notebooks/ from solutions/")
    release.add_argument("--check", action="store_true",
                         help="write nothing; exit 1 naming every student notebook that is not in sync")
    release.add_argument("--root", default=None, help="the course folder (default: this checkout)")
    release.set_defaults(handler=_release)

    profiles = "; ".join(f"{p}: {PROFILE_HELP[p]}" for p in PROFILES)
    run = commands.add_parser("run", help="execute solution notebooks headless (papermill) into build/")
    run.add_argument("--profile", choices=PROFILES, default=None,
                     help=f"default: ${PROFILE_ENV} if set, else {DEFAULT_PROFILE}. {profiles}")
    run.add_argument("--root", default=None, help="the course folder (default: this checkout)")
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                     help="a number (01), a name (01_supervised_vs_unsupervised) or a path; default: all")
    run.set_defaults(handler=_run, parser=run)

    data = commands.add_parser("data", help="show the MNIST source; --download fetches full MNIST")
    data.add_argument("--download", action="store_true", help="download full MNIST into the cache (internet)")
    data.set_defaults(handler=_data)

    grade = commands.add_parser("grade", help="score a class's submissions with the course's checks (sandboxed)")
    from .grading.grade import add_arguments

    add_arguments(grade)
    grade.set_defaults(handler=_grade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line), run the command, return its exit status.

    Without a command, print the help (which lists the commands) and return 0.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
