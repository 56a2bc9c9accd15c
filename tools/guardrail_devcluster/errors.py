"""Errors of the local control plane tooling."""


class DevClusterError(Exception):
    """Base class: something about the local control plane went wrong."""


class PrerequisiteError(DevClusterError):
    """A tool the control plane needs is missing or could not be built; the message says how to fix it."""


class StartupError(DevClusterError):
    """A control-plane component did not become healthy; the message names it and its log file."""


class CommandError(DevClusterError):
    """kubectl or helm exited non-zero; the message carries its stderr."""

    def __init__(self, cmd: list[str], returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(f"`{' '.join(cmd[:1] + cmd[1:])}` exited {returncode}: {stderr.strip() or stdout.strip()}")
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
