"""The ``kiosk`` command: one sub-command per operator act, each a thin layer over the library."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup

from ballot.evaluation import DIMENSIONS, VALIDITY

from . import evaluation
from .auth import set_organiser_password
from .backup import InstanceBusy, Schedule
from .enrolment import issue_observer, issue_unissued_seats, pending_tokens
from .errors import UserError
from .events import create_event, list_events
from .i18n import LANGS, translate
from .importer import KINDS, ImportFault, import_setup, read_rows
from .launch import ENV as ASYNC_ENV
from .launch import MODES, SERVE_DEFAULT, prepare
from .live import event_id as served_event_id
from .live import store, token_key


def _event(event: int | None) -> int:
    """The event to act on: ``--event``, or the instance's only event."""
    if event is not None:
        return event
    events = list_events(store())
    if len(events) == 1:
        return int(events[0]["id"])
    if not events:
        raise click.ClickException("no event in this instance: run `kiosk init` first")
    listing = ", ".join(f"{e['id']} ({e['name']})" for e in events)
    raise click.ClickException(
        f"this instance holds several events; choose with --event: {listing}"
    )


def _refusal(key: str, message: Callable[[str], str]) -> click.ClickException:
    """A refusal in each language on a line of its own: who runs the command, and in
    which language they read, is not known (its other lines are in both too)."""
    return click.ClickException(
        "\n".join(translate(key, lang, message=message(lang)) for lang in LANGS)
    )


def _new_password() -> str:
    return secrets.token_urlsafe(9)


def setup_evaluation(
    ev: int, groups_file: Path, dimensions: str, points: str, grades: str, validity: str, actor: str
) -> None:
    """The democratic evaluation's set-up from a groups file and the rule's options."""
    groups = [
        g
        for row in read_rows(groups_file, "groups")
        if (
            g := evaluation.parse_group(
                row.number, row.values["name"], row.values["ballots"], row.values.get("weight")
            )
        )
        is not None
    ]
    rules = evaluation.Rules(
        dimensions=evaluation.parse_dimensions(dimensions),
        points=evaluation.parse_points(points),
        grades=evaluation.parse_grades(grades),
        validity=validity,
    )
    evaluation.configure(store(), token_key(), ev, groups, rules, actor)


def print_links(base_url: str, ev: int, with_qr: bool = True) -> list[str]:
    """Print what a person needs to start: URLs and each pending seat's QR code."""
    from .qr import terminal

    pending = pending_tokens(store(), token_key(), ev)
    printed = [f"{base_url}/login", f"{base_url}/organiser/enrolment-sheet"]
    click.echo(f"\n组织者控制台 Organiser console:  {base_url}/login")
    click.echo(f"登记二维码打印页 QR sheet (after sign-in): {base_url}/organiser/enrolment-sheet")
    if evaluation.view(store(), ev) is not None:
        click.echo(f"民主测评选票 Ballot slips (after sign-in): {base_url}/organiser/ballot-slips")
    for observer in pending["observers"]:
        url = f"{base_url}/observe/{observer['token']}"
        printed.append(url)
        click.echo(f"监督屏 Observer screen {observer['label']}:  {url}")
    for seat in pending["seats"]:
        url = f"{base_url}/enrol/{seat['token']}"
        printed.append(url)
        click.echo(f"\n{seat['room_name']} 评委{seat['number']} enrolment:  {url}")
        if with_qr:
            click.echo(terminal(url))
    return printed


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _serve(
    app: Flask, host: str, port: int, backups: Schedule | None = None, mode: str | None = None
) -> None:
    """HTTPS whenever `kiosk tls init` has run; plain HTTP only on this computer; in async
    ``mode`` when given (the app must have been built for it), else in the app's own."""
    from .serving import serve_forever
    from .tls import server_files

    tls = server_files(Path(app.instance_path))
    app.config["SESSION_COOKIE_SECURE"] = tls is not None
    if tls is None and host not in LOOPBACK:
        raise click.ClickException(
            "tablets on the LAN need HTTPS (their signing keys only work in a secure "
            "context): run `kiosk tls init` first, or serve on 127.0.0.1 to try it here"
        )
    if mode is not None and app.config["ASYNC_MODE"] != mode:
        raise click.ClickException(
            f"this process was built for async mode {app.config['ASYNC_MODE']!r}, not "
            f"{mode!r}: start it with the kiosk command, which prepares the process for it"
        )
    try:
        serve_forever(app, host, port, tls, backups, report=click.echo)
    except InstanceBusy as exc:
        raise click.ClickException(str(exc)) from None


def _base_url(app: Flask, host: str, port: int) -> str:
    """The address printed and put in QR codes: PUBLIC_URL, else this machine's."""
    from .tls import lan_addresses, server_files

    if app.config.get("PUBLIC_URL"):
        return str(app.config["PUBLIC_URL"]).rstrip("/")
    scheme = "https" if server_files(Path(app.instance_path)) else "http"
    if host in ("0.0.0.0", "::"):
        lan = [a for a in lan_addresses() if not a.startswith("127.")]
        host = lan[0] if lan and scheme == "https" else "127.0.0.1"
    return f"{scheme}://{host}:{port}"


def register(app: Flask) -> None:
    """Attach every command to ``app.cli``."""

    @app.cli.command("init")
    @click.option(
        "--name", required=True, help="The event's name, e.g. 某镇2026年中层干部竞争上岗."
    )
    @click.option("--password", help="Organiser password (default: generated and printed).")
    @click.option("--rehearsal", is_flag=True, help="Flag the event as a rehearsal.")
    @click.option(
        "--threshold",
        default=5,
        show_default=True,
        help="Raters needed before the highest and lowest totals are dropped.",
    )
    def init_command(name: str, password: str | None, rehearsal: bool, threshold: int) -> None:
        """Create the instance folder (database, secret) and a new event."""
        try:
            ev = create_event(store(), name, rehearsal, threshold)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        if password is None or store().setting("organiser_password") is None:
            password = password or _new_password()
            set_organiser_password(store(), password)
            click.echo(f"organiser password: {password}")
        click.echo(f"event {ev} created in {current_app.instance_path}")

    @app.cli.command("import")
    @click.option("--event", type=int, help="Event id (default: the instance's only event).")
    @click.option(
        "--rooms",
        type=click.Path(exists=True, path_type=Path),
        help="Rooms and their rater seat counts.",
    )
    @click.option(
        "--posts",
        type=click.Path(exists=True, path_type=Path),
        help="Posts and their number of seats (职数).",
    )
    @click.option(
        "--rubric",
        type=click.Path(exists=True, path_type=Path),
        help="Interview rubric items with maximum and step.",
    )
    @click.option(
        "--candidates",
        type=click.Path(exists=True, path_type=Path),
        help="Candidates with up to two ordered preferences.",
    )
    @click.option(
        "--raters",
        type=click.Path(exists=True, path_type=Path),
        help="Raters, optionally placed on a room's seat.",
    )
    @click.option(
        "--draw",
        type=click.Path(exists=True, path_type=Path),
        help="Draw numbers and rooms (replaces numbers not yet called).",
    )
    @click.option(
        "--written",
        type=click.Path(exists=True, path_type=Path),
        help="Written exam marks by registration number: one entry of the double entry.",
    )
    def import_command(event: int | None, **files: Path | None) -> None:
        """Import set-up files (CSV in UTF-8/BOM/GBK, or XLSX); all or nothing. A written
        marks file is one clerk's entry: the marks count once a second entry agrees."""
        given = {kind: path for kind, path in files.items() if path is not None}
        if not given:
            raise click.UsageError(f"give at least one of: --{' --'.join(KINDS)}")
        ev = _event(event)
        try:
            counts = import_setup(store(), ev, given)
        except ImportFault as exc:
            raise _refusal("import.refused", exc.message) from None
        issued = issue_unissued_seats(store(), token_key(), ev, "cli")
        for kind, count in counts.items():
            click.echo(f"{kind}: {count} rows")
        if issued:
            click.echo(f"{issued} rater seats given enrolment codes")

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=5000, show_default=True, help="Port to listen on.")
    @click.option(
        "--backup-dir",
        "backup_dirs",
        multiple=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder for backups while serving, e.g. a USB stick; repeat for several.",
    )
    @click.option(
        "--backup-every",
        default=5.0,
        show_default=True,
        type=click.FloatRange(min=0.05, max=1440),
        help="Minutes between backups (one is also made at start and at a clean stop).",
    )
    @click.option(
        "--backup-keep",
        default=24,
        show_default=True,
        type=click.IntRange(min=1),
        help="Backups kept in each folder; older ones are removed.",
    )
    @click.option(
        "--async-mode",
        type=click.Choice(MODES),
        default=SERVE_DEFAULT,
        envvar=ASYNC_ENV,
        show_default=True,
        help="gevent's server (one process, greenlets), or Werkzeug's threaded one.",
    )
    def serve_command(
        host: str,
        port: int,
        backup_dirs: tuple[Path, ...],
        backup_every: float,
        backup_keep: int,
        async_mode: str,
    ) -> None:
        """Serve the event to the room's tablets and screens."""
        if served_event_id() is None:
            raise click.ClickException(
                "no single event to serve: run `kiosk init` or set KIOSK_EVENT_ID"
            )
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        base = _base_url(app, host, port)
        click.echo(f"组织者控制台 Organiser console:  {base}/login")
        click.echo(f"登记二维码打印页 QR sheet:  {base}/organiser/enrolment-sheet")
        click.echo(f"平板信任证书 Trust the kiosk's certificate:  {base}/ca")
        from .floors import sqlite_wal_race

        if sqlite_wal_race():
            click.echo(
                f"note: SQLite {sqlite3.sqlite_version} has the WAL-reset race; safe "
                "here (the server keeps one connection). While serving, export from "
                "the console, not with kiosk export."
            )
        click.echo(f"serving on {host}:{port}, async mode {async_mode} (Ctrl+C stops)")
        schedule = None
        if backup_dirs:
            schedule = Schedule(tuple(backup_dirs), backup_every * 60, backup_keep)
            click.echo(f"backups every {backup_every:g} min to: {', '.join(map(str, backup_dirs))}")
        _serve(app, host, port, schedule, async_mode)

    @app.cli.command("demo")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=5000, show_default=True, help="Port to listen on.")
    @click.option("--fresh", is_flag=True, help="Discard the demo database and start over.")
    @click.option("--no-serve", is_flag=True, help="Set up and print links, but do not serve.")
    def demo_command(host: str, port: int, fresh: bool, no_serve: bool) -> None:
        """Create (or reuse) the demo event in this instance, print its links, serve it."""
        from .demo import DEMO_GRADES, EVENT_NAME, write_groups, write_setup

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if fresh:
            old = store()
            old.close()
            for suffix in ("", "-wal", "-shm"):
                Path(app.config["DATABASE"] + suffix).unlink(missing_ok=True)
            from .storage import Store

            app.extensions["kiosk.store"] = fresh_store = Store(app.config["DATABASE"])
            fresh_store.server_key = old.server_key  # the instance's key, not the database's
        events = list_events(store())
        if events and events[0]["name"] != EVENT_NAME:
            raise click.ClickException(
                "this instance holds a real event; the demo needs its own KIOSK_INSTANCE_PATH"
            )
        if not events:
            ev = create_event(store(), EVENT_NAME)
            files = write_setup(Path(app.instance_path) / "demo-setup")
            import_setup(store(), ev, files)
            issue_unissued_seats(store(), token_key(), ev, "demo")
            for label in ("县委组织部", "纪委监委"):
                issue_observer(store(), token_key(), ev, label, "demo")
            groups = write_groups(Path(app.instance_path) / "demo-setup")
            setup_evaluation(
                ev, groups, " ".join(DIMENSIONS), "20", DEMO_GRADES, "candidate", "demo"
            )
            click.echo(f"demo set-up files (import examples): {app.instance_path}/demo-setup")
        ev = _event(None)
        password = _new_password()
        set_organiser_password(store(), password)
        print_links(_base_url(app, host, port), ev)
        click.echo(f"\n组织者密码 Organiser password: {password}")
        sys.stdout.flush()
        if not no_serve:
            _serve(app, host, port)

    @app.cli.command("export")
    @click.option(
        "--out",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Where to write the evidence bundle (a .zip file).",
    )
    @click.option("--event", type=int, help="Event id (default: the instance's only event).")
    def export_command(out: Path, event: int | None) -> None:
        """Write the event's evidence bundle: configuration, rosters with public keys, every
        envelope and opening, the log, every signed head, and the results."""
        from seal.signing import sha256_hex

        from .export import ExportFault, export_bundle

        try:
            data = export_bundle(store(), _event(event))
        except ExportFault as exc:
            raise click.ClickException(f"the event's log does not re-derive: {exc}") from None
        out.write_bytes(data)
        click.echo(f"wrote {out} ({len(data)} bytes), SHA-256 {sha256_hex(data)}")

    @app.cli.group("tls")
    def tls_group() -> None:
        """HTTPS for the room's LAN: a local certificate authority and server certificate."""

    @tls_group.command("init")
    @click.option(
        "--host",
        "hosts",
        multiple=True,
        help="Host names for the certificate (default: this machine's name).",
    )
    @click.option(
        "--ip",
        "addresses",
        multiple=True,
        help="LAN addresses for the certificate (default: this machine's).",
    )
    def tls_init_command(hosts: tuple[str, ...], addresses: tuple[str, ...]) -> None:
        """Create the kiosk's certificate authority (once) and a server certificate for
        its LAN addresses; kiosk serve then speaks HTTPS."""
        import ipaddress
        import socket

        from .tls import init_tls, lan_addresses

        for address in addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise click.BadParameter(f"{address!r} is not an IP address") from None
        made = init_tls(
            Path(current_app.instance_path),
            list(hosts) or [socket.gethostname()],
            list(addresses) or lan_addresses(),
        )
        click.echo(f"certificate for: {made['names']}")
        click.echo(f"CA certificate: {made['ca']}")
        click.echo(f"CA SHA-256 fingerprint (compare on each tablet): {made['fingerprint']}")

    @app.cli.group("evaluation")
    def evaluation_group() -> None:
        """The democratic evaluation (民主测评): evaluator groups, ballots, counting rule."""

    @evaluation_group.command("setup")
    @click.option(
        "--groups",
        "groups_file",
        required=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Evaluator groups: name (组别), ballots (票数), optional weight (权重); CSV or XLSX.",
    )
    @click.option(
        "--dimensions", default=" ".join(DIMENSIONS), show_default=True, help="Dimensions."
    )
    @click.option("--points", default="20", show_default=True, help="Points per dimension.")
    @click.option(
        "--grades",
        default="优秀=100 称职=80 基本称职=60 不称职=0",
        show_default=True,
        help="Each grade and the percentage of a dimension's points it earns, best first.",
    )
    @click.option(
        "--validity",
        type=click.Choice(VALIDITY),
        default="candidate",
        show_default=True,
        help="A gap voids the ballot for that candidate only, or the whole ballot.",
    )
    @click.option("--event", type=int, help="Event id (default: the instance's only event).")
    def evaluation_setup_command(
        groups_file: Path,
        dimensions: str,
        points: str,
        grades: str,
        validity: str,
        event: int | None,
    ) -> None:
        """Set the evaluator groups, their ballots and weights, and the counting rule, and
        issue the slips; only before the evaluation opens (the console opens it)."""
        ev = _event(event)
        try:
            setup_evaluation(ev, groups_file, dimensions, points, grades, validity, "cli")
        except (ImportFault, UserError) as exc:
            raise _refusal("import.not_saved", exc.message) from None
        groups, _rules, _state = evaluation.current_setup(store(), ev)
        for group in groups:
            weight = "" if group.weight is None else f", weight {group.weight}"
            click.echo(f"{group.name}: {group.ballots} ballots{weight}")
        click.echo("slips to print (after sign-in): /organiser/ballot-slips")

    @app.cli.command("rehearse")
    @click.option("--raters", default=7, show_default=True, help="Simulated rater tablets.")
    @click.option("--candidates", default=5, show_default=True, help="Candidates to interview.")
    @click.option("--seed", default=1, show_default=True, help="Seed for the simulated scores.")
    def rehearse_command(raters: int, candidates: int, seed: int) -> None:
        """Run a mock event in a throw-away instance: N tablets score M candidates over
        real Socket.IO; prints the results table."""
        from .rehearsal import rehearse

        if not 1 <= raters <= 30 or not 1 <= candidates <= 500:
            raise click.UsageError("raters must be 1..30 and candidates 1..500")
        click.echo(rehearse(raters, candidates, seed))


@click.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--head",
    "head",
    help="A signed tree head (JSON text or a file holding it), "
    "e.g. scanned from the observer screen's QR code; the bundle must extend it.",
)
def verify_command(bundle: Path, head: str | None) -> None:
    """Check an evidence bundle with no database and no server: every signature, the log
    and every signed head, every opening against its commitment, every result re-derived.
    Exits 0 only when everything holds."""
    from seal.verify import parse_head, verify_bundle

    given = None
    if head is not None:
        text = Path(head).read_text(encoding="utf-8") if Path(head).is_file() else head
        try:
            given = parse_head(text)
        except ValueError as exc:
            raise click.ClickException(f"--head is not a signed head: {exc}") from None
    failures = verify_bundle(bundle.read_bytes(), given)
    if failures:
        for failure in failures:
            click.echo(f"FAIL: {failure}")
        raise SystemExit(1)
    click.echo(f"OK: {bundle} verifies" + (" and extends the given head" if given else ""))


@click.group("draw")
def draw_group() -> None:
    """Lot drawing that anyone can recompute."""


@draw_group.command("rfc3797")
@click.option(
    "--pool-size", type=int, required=True, help="Members in the pool, in published order."
)
@click.option(
    "--count", type=int, required=True, help="How many to select (the pool size for an order)."
)
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    help='A source\'s numbers, e.g. "2 5 12 8 10"; repeat in the announced order.',
)
@click.option(
    "--hash",
    "hash_name",
    type=click.Choice(["sha256", "md5"]),
    default="sha256",
    show_default=True,
    help="md5 is RFC 3797 itself; sha256 is the default for draws.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def rfc3797_command(
    pool_size: int, count: int, sources: tuple[str, ...], hash_name: str, as_json: bool
) -> None:
    """Recompute an RFC 3797 draw: prints the key string and the selected positions
    (1-based, in order). Needs no database."""
    import json

    from ballot.lots import LotError, draw, parse_source

    try:
        key, steps = draw(pool_size, count, [parse_source(s) for s in sources], hash_name)
    except LotError as exc:
        raise click.ClickException(str(exc)) from None
    selected = [step.selected for step in steps]
    if as_json:
        click.echo(json.dumps({"key": key, "hash": hash_name, "selected": selected}))
        return
    click.echo(f"key: {key}")
    for step in steps:
        click.echo(f"{step.counter + 1:>5}  {step.digest}  {step.remaining:>5}  -> {step.selected}")
    click.echo("selected: " + " ".join(str(n) for n in selected))


def _echo_events(events: list[dict]) -> None:
    """What a backup holds, for the clerk to note: each event and its log's length."""
    for event in events:
        click.echo(f"event {event['id']} ({event['name']}): {event['log_size']} log entries")


@click.command("backup")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(path_type=Path),
    help="A folder (e.g. the USB stick) to write kiosk-backup-<time>.tar into, or a file name.",
)
def backup_command(target: Path) -> None:
    """Back up the event while it runs: the database and the keys needed to carry on, in
    one file. A running server makes the copy through its own connection; with none
    running, the database is opened here. The file holds keys: keep it sealed."""
    from .backup import BackupFault, archive_name, backup_now, read_archive, write_atomically
    from .instance import default_instance_path

    path = target / archive_name() if target.is_dir() else target
    try:
        data = backup_now(default_instance_path())
        manifest, _members = read_archive(data)
        write_atomically(path, data)
    except (BackupFault, OSError) as exc:
        raise click.ClickException(f"no backup written: {exc}") from None
    click.echo(f"wrote {path} ({len(data)} bytes), SHA-256 {hashlib.sha256(data).hexdigest()}")
    _echo_events(manifest["events"])


@click.command("restore")
@click.argument("backup", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new (or empty) instance folder to restore into.",
)
def restore_command(backup: Path, target: Path) -> None:
    """Restore a backup into a new instance folder: every file checked against the
    backup's SHA-256 list, the database against SQLite's integrity check. Serve it with
    KIOSK_INSTANCE_PATH set to that folder."""
    from .backup import BackupFault, restore

    try:
        done = restore(backup, target)
    except (BackupFault, OSError) as exc:
        raise click.ClickException(f"nothing restored: {exc}") from None
    click.echo(f"restored {backup} (made {done['created']}) into {target}")
    _echo_events(done["events"])
    click.echo(f"next: KIOSK_INSTANCE_PATH={target} kiosk serve ...")


def main() -> None:
    """Entry point of the ``kiosk`` console script."""
    from . import create_app

    prepare(sys.argv[1:])  # `kiosk serve` under gevent continues in a patched process

    group = FlaskGroup(
        create_app=lambda: create_app(),
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        help="Interview scoring kiosk. The instance folder is KIOSK_INSTANCE_PATH.",
    )
    group.add_command(verify_command)  # these two need no app, no instance, no database
    group.add_command(draw_group)
    group.add_command(backup_command)  # these two open the database only when no server runs
    group.add_command(restore_command)
    group(prog_name="kiosk")
