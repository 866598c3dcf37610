"""The reliability parts' pass/fail ledger and the figures printed at the end."""

import shutil
import threading
import time


class Ledger:
    """Every check is one pass or fail; figures are printed at the end."""

    def __init__(self, verbose=True):
        self.results = []  # (section, name, ok, detail)
        self.figures = []  # (section, name, value)
        self.notes = []
        self.summaries = []  # (section, one line with the part's headline figures)
        self.loss_checks = []  # (section, name, ok)
        self.lock = threading.Lock()
        self.verbose = verbose

    def check(self, section, name, ok, detail="", loss=False):
        """loss: a check that acknowledged writes survived, which --sabotage must fail."""
        ok = bool(ok)
        with self.lock:
            self.results.append((section, name, ok, detail))
            if loss:
                self.loss_checks.append((section, name, ok))
        if self.verbose or not ok:
            print("  [%s] %s: %s%s" % (section, "PASS" if ok else "FAIL", name,
                                       (" -- " + detail) if detail and not ok else ""),
                  flush=True)
        return ok

    def figure(self, section, name, value):
        with self.lock:
            self.figures.append((section, name, value))

    def summary(self, section, text):
        with self.lock:
            self.summaries.append((section, text))

    def note(self, section, text):
        with self.lock:
            self.notes.append((section, text))
        print("  [%s] note: %s" % (section, text), flush=True)

    def passed(self):
        return sum(1 for r in self.results if r[2])

    def failed(self):
        return sum(1 for r in self.results if not r[2])

    def report(self, name, started, seed, workdir, keep=False, sabotage=False, width=None,
               check_sections=False):
        """Prints the figures, notes, summaries and checks (each with its section in a column
        `width` wide, unless None; the checks too with check_sections), the time since
        `started`, removes workdir unless a check failed or keep, prints "NAME: N passed,
        N failed" and, with sabotage, the self-test's verdict: every loss check that ran
        must have caught the planted loss. Returns the exit status."""
        def sec(s):
            return "" if width is None else "%-*s " % (width, s)
        print("\n== figures")
        for s, fig, value in self.figures:
            print("  %s%s: %s" % (sec(s), fig, value))
        for s, text in self.notes:
            print("  %sNOTE: %s" % (sec(s), text))
        print("\n== summary")
        for s, text in self.summaries:
            print("  %s%s" % (sec(s), text))
        print("\n== checks")
        for s, check, ok, detail in self.results:
            print("  %s  %s%s%s" % ("PASS" if ok else "FAIL", sec(s) if check_sections else "", check,
                                    ("\n        " + detail) if detail and not ok else ""))
        print("\n  total time %.1f s; seed %d" % (time.time() - started, seed))
        failed = self.failed()
        if failed or keep:
            print("  scratch dir kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        print("%s: %d passed, %d failed" % (name, self.passed(), failed), flush=True)
        if sabotage:
            held = [("%s %s" % (s, n)) if check_sections else n
                    for s, n, ok in self.loss_checks if ok]
            good = bool(self.loss_checks) and not held
            print("sabotage self-test: %s (%d of %d loss checks failed as they must%s)"
                  % ("PASSED" if good else "FAILED", len(self.loss_checks) - len(held),
                     len(self.loss_checks), "; still passing: " + "; ".join(held) if held else ""),
                  flush=True)
            return 0 if good else 1
        return 1 if failed else 0
