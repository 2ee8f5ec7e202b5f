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


class TrainingDiverged(NnctlError):
    """The command ran and the result failed: the loss or the weights became non-finite."""

    exit_code = 1


class Interrupted(NnctlError):
    """Stopped on request (Ctrl-C) at a consistent point that was saved; ``--resume`` continues from it."""

    exit_code = 130
