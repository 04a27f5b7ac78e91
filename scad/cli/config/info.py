import asyncclick as click

from ...config.registry import load_registered
from ...reports.configinfo import ConfigInfo, describe_config
from .._app import Application, pass_app
from .._complete import config_names
from .._engine import with_engine_if_up
from .._json import Document, JsonCommand, JsonOutput, json_option
from .._render import table

#: What --json prints.
JSON = Document(("scad.reports.configinfo:ConfigInfo",))


@click.command("info", cls=JsonCommand)
@click.argument("name", shell_complete=config_names)
@json_option(JSON)
@pass_app
async def command(app: Application, name: str, as_json: JsonOutput | None) -> None:
    """Summarise config NAME: repos, mounts, Python, plugins, image."""

    home = app.home
    config = load_registered(home, name)
    # Without the engine, the image's state is shown as unknown.
    info = await with_engine_if_up(
        lambda engine: describe_config(home, config, engine), app.open_engine, lacking=None
    )
    if as_json:
        as_json.echo(info)
    else:
        click.echo(render(info))


def render(info: ConfigInfo) -> str:
    def repo_state(r) -> str:  # type: ignore[no-untyped-def]
        if r.problem and r.branch is None:
            return r.problem
        state = f"{r.branch}, {'dirty' if r.dirty else 'clean'}"
        return f"{state}; {r.problem}" if r.problem else state

    def roles(r) -> str:  # type: ignore[no-untyped-def]
        return ",".join(x for x, on in (("workdir", r.workdir), ("add_dir", r.add_dir)) if on)

    built = {True: "built", False: "not built", None: "unknown (engine unreachable)"}[
        info.image_built
    ]
    image = f"{info.image} ({built})" if info.image else f"cannot be built: {info.image_problem}"
    parts = [
        f"config   {info.name}",
        f"image    {image}; base {info.base_image}",
        f"python   {info.python}"
        + (f", requirements {info.requirements}" if info.requirements else ""),
        f"claude   {info.claude_version}; plugins: {', '.join(info.plugins) or 'none'}",
        f"network  {info.network}",
        "",
        table(
            ("REPO", "ROLE", "PATH", "STATE"),
            [(r.key, roles(r), r.path, repo_state(r)) for r in info.repos],
        ),
    ]
    if info.mounts:
        parts += [
            "",
            table(
                ("MOUNT", "CONTAINER", "EXISTS"),
                [(m.host, m.container, "yes" if m.exists else "NO") for m in info.mounts],
            ),
        ]
    return "\n".join(parts)
