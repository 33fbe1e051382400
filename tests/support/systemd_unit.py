"""A systemd unit file read as systemd reads the parts the kit's tests run: the [Service] section's ExecStart=
command lines (in order) and its Environment= assignments, so a test runs exactly what the shipped unit runs."""
import shlex


def service(path):
    """(commands, environment) of the unit at `path`: each ExecStart= split into argv as systemd splits it (quotes,
    no shell), and the Environment= variables. A leading "-" or "@" on a command is refused: the tests would run it
    differently from systemd."""
    commands, environment, section = [], {}, None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section != "Service" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key == "ExecStart":
            if value[:1] in "-@+!:":
                raise ValueError(f"{path.name}: ExecStart prefix {value[0]!r} is not run the way systemd runs it")
            commands.append(shlex.split(value))
        elif key == "Environment":
            for assignment in shlex.split(value):
                name, _, setting = assignment.partition("=")
                environment[name] = setting
    return commands, environment
