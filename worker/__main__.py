"""`python -m worker`: the same command as `tiertrace worker` (worker/command.py)."""

from worker.command import worker

if __name__ == "__main__":
    worker(prog_name="python -m worker")
