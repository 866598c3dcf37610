"""The reliability parts' pass/fail ledger and the figures printed at the end."""

import threading


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
