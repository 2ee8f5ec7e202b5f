"""The project's exceptions. The CLI turns them into one ``Error: <where>: <what>`` line and an exit code."""


class NnctlError(Exception):
    """Bad input: the CLI prints the message and exits 2."""

    exit_code = 2


class ConfigError(NnctlError):
    """A config file or override that is not valid."""


class DataError(NnctlError):
    """A data source that cannot be read or does not fit the network."""


class CheckpointError(NnctlError):
    """A checkpoint that cannot be read or trusted."""


class RunDirError(NnctlError):
    """An output directory that cannot be used."""


class ClusterError(NnctlError):
    """A Dask cluster that cannot run the sweep: unreachable, no workers, no shared files."""


class TrainingDiverged(NnctlError):
    """The command ran and the result failed: the loss or the weights became non-finite."""

    exit_code = 1


class MissingExtra(NnctlError):
    """An optional package a command needs is not installed; the message says what to install."""


class OutputError(NnctlError):
    """stdout cannot be written (a full disk, a closed stream)."""


class Interrupted(NnctlError):
    """Stopped on request (Ctrl-C, SIGTERM) at a consistent point that was saved; ``--resume`` continues from
    it. The exit code is 128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM."""

    exit_code = 130

    def __init__(self, message, exit_code=130):
        super().__init__(message)
        self.exit_code = exit_code
