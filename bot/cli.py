"""The `whoowns` command line: chat, ask, database and catalogue administration."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from bot import console, logs
from bot.app import Core, open_core
from bot.server import serve
from bot.settings import Settings, SettingsError
from bot.teams.package import PackageError, build_package
from handlers.message import Notification
from handlers.ownership import digest_pass, review_pass
from handlers.reminders import send_due_reminders
from seed.catalogue import CatalogueError, CatalogueSpec, default_catalogue
from seed.markdown import parse_roles_markdown
from seed.transfer import parse_team_file, to_csv, to_yaml
from store import catalog, catalogue_changes, migrate, outbox, people, workspaces
from store.audit import ChangeOrigin
from store.catalogue_changes import ReplacementPlan
from store.db import StoreUnavailable
from store.models import OutboxStatus
from store.records import WorkspaceRef
from store.transfer import export_team, import_team

log = logging.getLogger("whoowns")


class CommandError(Exception):
    """A failure to report in one line, with exit status 2."""


def _workspace_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        default=f"{console.PLATFORM}:{console.WORKSPACE}",
        help="PLATFORM:ID of the workspace, e.g. slack:T0123 (default: the console workspace)",
    )


def _person_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user",
        help="act as this person (with their rights); without it you act as the operator, an admin",
    )
    parser.add_argument(
        "--project", help="the project to ask about (default: the channel's, or default)"
    )
    parser.add_argument(
        "--channel", help="the channel you speak in (for linking a channel to a project)"
    )


def _replace_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replace",
        action="store_true",
        help="make the catalogue exactly the file's roles: roles it does not name are retired "
        "(their holds end, their history stays)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whoowns", description="Who owns what in an ML/MLOps project team."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = commands.add_parser("chat", help="an interactive chat in the console")
    _person_args(chat)

    ask = commands.add_parser("ask", help="answer one message (or one per line with --batch)")
    _person_args(ask)
    ask.add_argument("--json", action="store_true", help="print one JSON object per answer")
    ask.add_argument("--batch", metavar="FILE", help="answer each line of FILE (- for stdin)")
    ask.add_argument("text", nargs="*", help="the message, e.g. who handles data drift?")

    db = commands.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="create or upgrade the schema to this version")

    cat = commands.add_parser("catalog", help="catalogue administration")
    cat_commands = cat.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    cat_import = cat_commands.add_parser(
        "import", help="add the roles of a markdown roles document to a workspace"
    )
    cat_import.add_argument("file", type=Path)
    _replace_args(cat_import)
    _workspace_arg(cat_import)
    reset = cat_commands.add_parser(
        "reset", help="make the catalogue the default one again (or empty, with --empty)"
    )
    reset.add_argument("--empty", action="store_true", help="retire every role instead")
    reset.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    _workspace_arg(reset)
    show = cat_commands.add_parser("show", help="print the roles, responsibilities and keywords")
    _workspace_arg(show)
    edit = cat_commands.add_parser(
        "edit",
        help="one catalogue command, as in chat: add role NAME, rename role A to B, retire role "
        'NAME, add responsibility "TEXT" to ROLE, add keyword "K" to ROLE: RESPONSIBILITY, …',
    )
    _person_args(edit)
    edit.add_argument("text", nargs="+", help="the command")
    edit.set_defaults(json=False, batch=None)  # answered as `ask` answers one message

    export = commands.add_parser("export", help="write the catalogue and assignments to a file")
    export.add_argument("--format", choices=("yaml", "csv"), default="yaml")
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")
    _workspace_arg(export)

    imp = commands.add_parser("import", help="read a catalogue and assignments file (YAML or CSV)")
    imp.add_argument("file", type=Path)
    _replace_args(imp)
    _workspace_arg(imp)

    serve = commands.add_parser("serve", help="run the server: Slack and Teams endpoints, health")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=3978, help="port to listen on (default 3978)")

    package = commands.add_parser(
        "teams-package", help="build the Teams app package (zip) to upload"
    )
    package.add_argument("--app-id", required=True, help="the Azure Bot's Microsoft App ID")
    package.add_argument(
        "--out", type=Path, default=Path("whoowns-teams.zip"), help="the zip to write"
    )

    commands.add_parser(
        "remind",
        help="send the escalation reminders that are due, once (the server does it every 30 s)",
    )
    commands.add_parser(
        "review",
        help="ask the holders whose roles are due for review, and report the unanswered asks, once "
        "(the server does it hourly)",
    )
    commands.add_parser(
        "digest",
        help="post the weekly digest of every workspace whose week is over, once (the server "
        "does it hourly)",
    )
    space = commands.add_parser("workspace", help="workspace administration")
    space_commands = space.add_subparsers(dest="workspace_command", required=True)
    drop = space_commands.add_parser(
        "delete", help="remove a workspace with its people, assignments, audit and escalations"
    )
    drop.add_argument("workspace", help="PLATFORM:ID, like slack:T0123")
    drop.add_argument("--yes", action="store_true", help="really delete (else: say what would go)")
    box = commands.add_parser(
        "outbox", help="notifications not yet delivered: pending, and failed (undeliverable)"
    )
    box.add_argument("--all", action="store_true", help="the delivered ones too")
    box.add_argument(
        "--retry", type=int, metavar="ID", help="send a failed notification again (by its id)"
    )
    return parser


def _split_workspace(value: str) -> tuple[str, str]:
    platform, _, external = value.partition(":")
    if not platform or not external:
        raise CommandError(f"--workspace must be PLATFORM:ID, like slack:T0123, not {value!r}")
    return platform, external


async def _workspace(core: Core, value: str) -> WorkspaceRef:
    platform, external = _split_workspace(value)
    name = console.WORKSPACE_NAME if platform == console.PLATFORM else None
    return await workspaces.ensure_workspace(
        core.db, platform, external, name, catalogue=core.services.config.new_catalogue
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc


def _nonblank(handle: TextIO) -> Iterator[str]:
    for raw in handle:
        text = raw.rstrip("\n")
        if text.strip():
            yield text


def _lines(source: str) -> Iterator[str]:
    if source == "-":
        yield from _nonblank(sys.stdin)
        return
    try:
        handle = Path(source).open(encoding="utf-8")  # noqa: SIM115 — closed below
    except OSError as exc:
        raise CommandError(f"cannot read {source}: {exc}") from exc
    with handle:
        yield from _nonblank(handle)


async def cmd_ask(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    if args.batch and args.text:
        raise CommandError("give either TEXT or --batch, not both")
    if not args.batch and not args.text:
        raise CommandError("nothing to ask: give TEXT or --batch FILE")
    texts: Iterator[str] = _lines(args.batch) if args.batch else iter([" ".join(args.text)])
    for text in texts:
        reply = await core.dispatcher.handle(
            console.console_message(
                text, user=args.user, project=args.project, channel=args.channel
            )
        )
        if args.json:
            out.write(json.dumps(reply.as_json(), ensure_ascii=False) + "\n")
        else:
            out.write(console.render(reply) + "\n")
        out.flush()
    return 0


async def cmd_chat(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    session = console.ChatSession(user=args.user, project=args.project, channel=args.channel)
    interactive = sys.stdin.isatty()
    who = args.user or f"{console.operator_name()} (operator, admin)"
    out.write(
        f"whoowns — chatting as {who} on {core.db.url.split('://')[0]}. "
        "Ask “who handles data drift?”, say “help”, or Ctrl-D to leave.\n"
    )
    while True:
        try:
            text = await asyncio.to_thread(input, "you> " if interactive else "")
        except EOFError:
            out.write("\n" if interactive else "")
            return 0
        if not text.strip():
            continue
        if text.strip().lower() in {"quit", "exit", "bye"}:
            return 0
        reply = await core.dispatcher.handle(session.message(text))
        session.remember(reply)
        out.write(console.render(reply) + "\n")
        out.flush()


async def cmd_db_upgrade(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    before = await migrate.current_revision(core.db)
    out.write(f"database schema at {before} (newest {migrate.head_revision()})\n")
    return 0


def _show_plan(
    out: TextIO, where: WorkspaceRef, dry_run: bool
) -> Callable[[ReplacementPlan], None]:
    def show(plan: ReplacementPlan) -> None:
        verb = "would change (dry run, nothing changed)" if dry_run else "changes"
        out.write(f"catalogue of {where.platform}:{where.external_id} {verb}:\n")
        out.writelines(f"  {text}\n" for text in plan.lines())
        out.flush()

    return show


async def _replace(core: Core, args: argparse.Namespace, out: TextIO, spec: CatalogueSpec) -> int:
    workspace = await _workspace(core, args.workspace)
    operator = await people.ensure_person(core.db, workspace.id, console.operator_name())
    await catalogue_changes.replace_catalogue(
        core.db,
        workspace.id,
        spec,
        origin=ChangeOrigin(workspace.id, None, operator.id, console.PLATFORM),
        dry_run=args.dry_run,
        show=_show_plan(out, workspace, args.dry_run),
    )
    return 0


async def cmd_catalog_import(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    spec = parse_roles_markdown(_read(args.file), source=str(args.file))
    if args.replace:
        return await _replace(core, args, out, spec)
    if args.dry_run:
        raise CommandError("--dry-run goes with --replace (a plain import only adds)")
    workspace = await _workspace(core, args.workspace)
    roles, responsibilities = await catalog.import_catalogue(core.db, workspace.id, spec)
    out.write(
        f"imported {len(spec.roles)} roles into {workspace.platform}:{workspace.external_id}: "
        f"{roles} new roles, {responsibilities} new responsibilities\n"
    )
    return 0


async def cmd_catalog_reset(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    spec = CatalogueSpec(roles=(), escalation_chain=()) if args.empty else default_catalogue()
    return await _replace(core, args, out, spec)


async def cmd_catalog_show(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    workspace = await _workspace(core, args.workspace)
    current = await catalog.load_catalog(core.db, workspace.id)
    for role in current.roles:
        aliases = f" (also: {', '.join(role.aliases)})" if role.aliases else ""
        out.write(f"{role.name}{aliases}\n")
        for number, item in enumerate(role.responsibilities, start=1):
            words = item.keywords + item.learned
            extra = f"  [keywords: {', '.join(words)}]" if words else ""
            out.write(f"  {number}. {item.text}{extra}\n")
    if current.retired:
        out.write("retired: " + ", ".join(r.name for r in current.retired) + "\n")
    if not current.roles:
        out.write("the catalogue is empty: add a role with `whoowns catalog edit add role NAME`\n")
    return 0


async def cmd_export(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    workspace = await _workspace(core, args.workspace)
    team = await export_team(core.db, workspace.id)
    text = to_csv(team) if args.format == "csv" else to_yaml(team)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        out.write(
            f"wrote {len(team.catalogue.roles)} roles, {len(team.assignments)} assignments to {args.out}\n"
        )
    else:
        out.write(text)
    return 0


async def cmd_import(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    team = parse_team_file(_read(args.file), source=str(args.file))
    workspace = await _workspace(core, args.workspace)
    operator = await people.ensure_person(core.db, workspace.id, console.operator_name())
    roles, responsibilities, changes = await import_team(
        core.db,
        workspace.id,
        team,
        actor_id=operator.id,
        platform=console.PLATFORM,
        replace=args.replace,
        dry_run=args.dry_run,
        show=_show_plan(out, workspace, args.dry_run),
    )
    if args.dry_run:
        out.write("dry run: nothing changed\n")
        return 0
    out.write(
        f"imported into {workspace.platform}:{workspace.external_id}: {roles} new roles, "
        f"{responsibilities} new responsibilities, {changes} assignment changes\n"
    )
    return 0


async def cmd_remind(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    sent = await send_due_reminders(core.services)
    for escalation, notifications in sent:
        out.write(f"reminder for #{escalation.number} ({escalation.current_role})\n")
        for note in notifications:
            out.write(console.render_notification(note) + "\n")
    out.write(f"{len(sent)} reminders sent\n")
    return 0


async def cmd_review(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    done = await review_pass(core.services)
    for review, notifications in done:
        where = f"{review.workspace.platform}:{review.workspace.external_id}"
        out.write(
            f"{where}: {len(review.asked)} holds asked about, {len(review.overdue)} reported stale\n"
        )
        for note in notifications:
            out.write(console.render_notification(note) + "\n")
    out.write(f"{len(done)} workspaces reviewed\n")
    return 0


async def cmd_digest(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    posted = await digest_pass(core.services)
    for digest, notifications in posted:
        where = f"{digest.workspace.platform}:{digest.workspace.external_id}"
        out.write(f"{where}: digest for channel {digest.channel}\n")
        for note in notifications:
            out.write(console.render_notification(note) + "\n")
    out.write(f"{len(posted)} digests posted\n")
    return 0


async def cmd_outbox(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    if args.retry is not None:
        if not await outbox.send_again(core.db, args.retry, core.services.now()):
            raise CommandError(f"there is no failed notification {args.retry} in the outbox")
        out.write(f"notification {args.retry} will be sent again by the server\n")
        return 0
    statuses = list(OutboxStatus) if args.all else [OutboxStatus.PENDING, OutboxStatus.FAILED]
    messages = await outbox.list_messages(core.db, statuses)
    for m in messages:
        text = Notification.from_payload(m.recipient, m.recipient_name, m.payload).text
        first = text.splitlines()[0][:80] if text else ""
        out.write(
            f"{m.id:>6}  {m.status.value:<8} {m.platform}:{m.workspace} to {m.recipient_name} "
            f"({m.recipient}), {m.attempts} attempts, written {m.created_at:%Y-%m-%d %H:%M} UTC: "
            f"{first}\n"
        )
        if m.last_error and m.status != OutboxStatus.SENT:
            out.write(f"        last error: {m.last_error}\n")
    counts = await outbox.count_by_status(core.db)
    out.write(", ".join(f"{counts.get(s, 0)} {s.value}" for s in OutboxStatus) + "\n")
    return 0


async def cmd_workspace_delete(core: Core, args: argparse.Namespace, out: TextIO) -> int:
    platform, external = _split_workspace(args.workspace)
    found = await workspaces.find_workspace(core.db, platform, external)
    if found is None:
        raise CommandError(f"there is no workspace {args.workspace}")
    if not args.yes:
        held = await workspaces.workspace_contents(core.db, found.id)
        out.write(f"{args.workspace} holds {_counts(held)}\n")
        out.write("nothing deleted: add --yes to delete it\n")
        return 0
    removed = await workspaces.delete_workspace(core.db, found.id)
    out.write(f"deleted {args.workspace}: {_counts(removed)}\n")
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in counts.items())


Command = Callable[[Core, argparse.Namespace, TextIO], Awaitable[int]]


def _command(args: argparse.Namespace) -> Command:
    if args.command == "db":
        return cmd_db_upgrade
    if args.command == "catalog":
        catalog_commands: dict[str, Command] = {
            "import": cmd_catalog_import,
            "reset": cmd_catalog_reset,
            "show": cmd_catalog_show,
            "edit": cmd_ask,
        }
        return catalog_commands[args.catalog_command]
    if args.command == "workspace":
        return cmd_workspace_delete
    commands: dict[str, Command] = {
        "ask": cmd_ask,
        "chat": cmd_chat,
        "export": cmd_export,
        "import": cmd_import,
        "remind": cmd_remind,
        "review": cmd_review,
        "digest": cmd_digest,
        "outbox": cmd_outbox,
    }
    return commands[args.command]


async def run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    async with open_core(settings) as core:
        return await _command(args)(core, args, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    stream = out or sys.stdout
    try:
        settings = Settings.from_env()
        default_format = "json" if args.command == "serve" else "text"
        logs.configure(settings.log_level, json=(settings.log_format or default_format) == "json")
        if args.command == "teams-package":
            manifest = build_package(args.app_id, args.out)
            print(
                f"wrote {args.out}: Teams app {manifest['name']} for bot {args.app_id}", file=stream
            )
            return 0
        if args.command == "serve":
            serve(settings, args.host, args.port, lambda line: print(line, file=stream, flush=True))
            return 0
        return asyncio.run(run(args, settings, stream))
    except (SettingsError, CatalogueError, CommandError, PackageError, migrate.SchemaTooNew) as exc:
        print(f"whoowns: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"whoowns: cannot reach the database: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
