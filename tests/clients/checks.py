"""What the Python client scripts share: named checks that report and go on, and waiting for a condition."""

import asyncio


class Checks:
    """Runs named checks, prints `ok   <label>::<name>` or `FAIL ...` for each, and keeps the outcomes."""

    def __init__(self, label):
        self.label = label
        self.results = []

    async def step(self, name, body):
        try:
            await body()
            self.results.append((name, None))
            print(f"ok   {self.label}::{name}", flush=True)
        except Exception as error:  # report every failure, then go on
            self.results.append((name, error))
            print(f"FAIL {self.label}::{name}: {type(error).__name__}: {error}", flush=True)

    def summary(self):
        """`<label>: N passed, M failed` and the exit code."""
        failed = sum(1 for _, error in self.results if error)
        print(f"{self.label}: {len(self.results) - failed} passed, {failed} failed")
        return 1 if failed else 0


async def wait_for(predicate, what, seconds=15.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
