"""Options shared by several commands, declared once (imports only click, so commands load fast)."""
import click


def set_option(f):
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="Override one config key, value parsed as YAML (e.g. --set train.alpha=0.1); repeatable.")(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")(f)
