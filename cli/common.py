"""What every command shares: inputs, calculators named by a model, errors, exit codes and progress."""
from __future__ import annotations

import csv
import functools
import os
import signal
import sys
import threading
import time
import traceback

from dataformats import list_videos, read_path_list
from features.registry import all_calculators

__all__ = ["collect_inputs", "calculators_by_key", "UsageError", "cli_errors", "Progress", "EXIT_OK", "EXIT_SOME",
           "EXIT_NONE", "EXIT_USAGE", "EXIT_EXISTS", "EXIT_STRICT", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "Terminated",
           "interrupt_code", "interrupt_word", "one_line"]

#: exit codes (README, "Bad input, exit codes and resuming")
EXIT_OK = 0  #: every input was scored (``ok`` or ``partial``)
EXIT_SOME = 1  #: some inputs were not scored (their rows say why)
EXIT_NONE = 2  #: no input could be scored
EXIT_USAGE = 2  #: bad arguments, missing path, unknown feature set, bad model folder or CSV: nothing was done
EXIT_EXISTS = 3  #: the output exists and neither --force nor --resume was given
EXIT_STRICT = 4  #: --strict stopped the run at the first calculator failure
EXIT_INTERRUPTED = 130  #: Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  #: SIGTERM (128 + 15), as a job scheduler or ``timeout`` sends it: handled like Ctrl-C


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so the same clean-up runs (finished rows kept, workers ended)."""


def interrupt_code(e: KeyboardInterrupt) -> int:
    return EXIT_TERMINATED if isinstance(e, Terminated) else EXIT_INTERRUPTED


def interrupt_word(e: KeyboardInterrupt) -> str:
    return "terminated" if isinstance(e, Terminated) else "interrupted"


_SIGTERM_OWNER = [0]  # the pid that installed the handler


def _on_sigterm(signum, frame):
    if os.getpid() != _SIGTERM_OWNER[0]:  # a forked child that inherited the handler: die as SIGTERM means
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated()


class UsageError(Exception):
    """An expected failure the user can fix; its message is printed as one line, without a traceback."""


def calculators_by_key(keys: list[str]):
    """The installed calculators a model names, in its order; :class:`UsageError` when one is missing."""
    known = {c.key: c for c in all_calculators()}
    missing = [k for k in keys if k not in known]
    if missing:
        raise UsageError(f"the model needs calculators this installation lacks: {', '.join(missing)}")
    return [known[k] for k in keys]


def collect_inputs(paths: list[str]) -> list[str]:
    """Video files named by PATH arguments: files, folders (recursive) or .txt lists, without repeats.

    Folders named like videos (``clip.mp4/``), broken links and link loops inside a folder are kept, so
    that each gets a row saying what it is. A path that does not exist is kept too (it gets a
    ``not_found`` row) unless no path exists at all: then :class:`UsageError`.
    """
    out: list[str] = []
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing and len(missing) == len(paths):
        raise UsageError("no such file or folder: " + ", ".join(missing))
    for p in paths:
        if os.path.isdir(p):
            out += list_videos(p, strays=True)
        elif p.lower().endswith(".txt") and os.path.isfile(p):
            try:
                out += read_path_list(p)
            except (OSError, UnicodeDecodeError) as e:
                raise UsageError(f"{p}: cannot read this list of paths ({one_line(e)})") from None
        else:
            out.append(p)  # a missing or non-video file still gets its own row and status
    return list(dict.fromkeys(out))


def one_line(e: BaseException) -> str:
    """An exception as one readable line (file errors as 'reason: path')."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


#: failures a user can cause and fix: one line on stderr, no traceback (unless --debug)
EXPECTED_ERRORS = (UsageError, OSError, ValueError, csv.Error, LookupError)


def cli_errors(prog: str):
    """Decorate a command's ``main(argv)``: expected failures become one line on stderr and exit code 2
    (the traceback only with ``--debug``); Ctrl-C exits 130 and SIGTERM 143, both without a traceback."""

    def deco(main):
        @functools.wraps(main)
        def wrapper(argv=None):
            debug = "--debug" in (sys.argv[1:] if argv is None else list(argv))
            previous = None
            if threading.current_thread() is threading.main_thread():
                _SIGTERM_OWNER[0] = os.getpid()
                previous = signal.signal(signal.SIGTERM, _on_sigterm)
            try:
                return main(argv)
            except KeyboardInterrupt as e:
                print(f"{prog}: {interrupt_word(e)}", file=sys.stderr)
                return interrupt_code(e)
            except SystemExit as e:
                if isinstance(e.code, str):  # raise SystemExit("message") anywhere below
                    if debug:
                        traceback.print_exc()
                    print(f"{prog}: error: {e.code}", file=sys.stderr)
                    return EXIT_USAGE
                raise
            except EXPECTED_ERRORS as e:
                if debug:
                    traceback.print_exc()
                print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
                return EXIT_USAGE
            except Exception as e:  # noqa: BLE001 - a bug: still one line, the traceback on request
                if debug:
                    raise
                print(f"{prog}: internal error: {type(e).__name__}: {one_line(e)} (please report it; --debug shows "
                      "the traceback)", file=sys.stderr)
                return EXIT_USAGE
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)

        return wrapper

    return deco


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """Progress of a batch on stderr: a tqdm bar with rate and ETA on a terminal, otherwise a plain line at
    the start and then every ``every`` seconds (and at the end), so that logs show the run is alive."""

    def __init__(self, total: int, desc: str, *, stream=None, every: float = 10.0, unit: str = "video",
                 initial: int = 0):
        self.stream = stream or sys.stderr
        self.total, self.desc, self.every, self.unit = total, desc, every, unit
        self.done = self._start_done = initial
        self.t0 = self._last = time.monotonic()
        self.bar = None
        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if tty:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.stream,
                                dynamic_ncols=True, smoothing=0.1)
            except ImportError:
                pass
        if self.bar is None:
            self._line()

    def _line(self) -> None:
        el = time.monotonic() - self.t0
        n = self.done - self._start_done
        rate = n / el if el > 0 and n else 0.0
        left = self.total - self.done
        eta = f", ETA {_duration(left / rate)}" if rate > 0 and left > 0 else ""
        pct = 100.0 * self.done / self.total if self.total else 100.0
        speed = f", {rate:.2f} {self.unit}s/s" if rate else ""
        print(f"{self.desc}: {self.done}/{self.total} {self.unit}s ({pct:.0f} %){speed}{eta}, "
              f"{_duration(el)} elapsed", file=self.stream, flush=True)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            self._line()

    def write(self, line: str) -> None:
        """A message that does not break the bar."""
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
