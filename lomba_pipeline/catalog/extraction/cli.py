"""``lomba extract`` (one caption → JSON record) and ``lomba extract-pending`` (drain the queue)."""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
import sys
from pathlib import Path

import click

from lomba_pipeline.catalog.extraction.chain import MODES, Item, Poster


def _read_caption(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise click.BadParameter(f"{source}: no such file", param_hint="FILE")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{source}: not UTF-8 text ({exc.reason})", param_hint="FILE") from exc


@click.command("extract", help="Read one caption (FILE, or - for stdin) and print the record as JSON.")
@click.option("--provider", type=click.Choice(MODES), default="rules", show_default=True)
@click.option("--posted-at", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Post date: fills a year the caption leaves out.")
@click.option("--image", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="The poster, for the mistral / gemini / chain providers.")
@click.argument("source", metavar="FILE|-")
def extract_command(provider: str, posted_at, image: Path | None, source: str) -> None:
    from lomba_pipeline.catalog.extraction.runner import build_extractor
    from lomba_pipeline.resources.ai import ai_config_from_settings
    from lomba_pipeline.settings import get_settings

    if provider in ("mistral", "gemini") and image is None:
        raise click.BadParameter(f"the {provider} provider reads a poster: pass --image PATH",
                                 param_hint="--image")
    caption = _read_caption(source)
    settings = get_settings()
    poster = None
    image_bytes = b""
    if image is not None:
        from lomba_pipeline.media.images import InvalidImage, inspect_image

        image_bytes = image.read_bytes()
        try:
            info = inspect_image(image_bytes, str(image), 20 * 1024 * 1024)
            content_type = info.content_type
        except InvalidImage as exc:
            raise click.BadParameter(str(exc), param_hint="--image") from exc
        except Exception:
            content_type = mimetypes.guess_type(image.name)[0] or "image/jpeg"
        poster = Poster(None, None, str(image), content_type)
    extractor = build_extractor(
        ai_config_from_settings(settings.ai), provider, image_transfer="data"
    )
    extractor.load_poster = lambda _poster: image_bytes
    outcome = extractor.extract(
        Item(None, caption, posted_at=posted_at.date() if isinstance(posted_at, dt.datetime)
             else None, poster=poster)
    )
    out = outcome.record.to_json_dict()
    out["extraction_status"] = outcome.status
    out["extraction_error"] = outcome.error
    click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    for attempt in outcome.attempts:
        click.echo(f"{attempt.provider}/{attempt.step}: {attempt.outcome} "
                   f"{attempt.latency_ms} ms" + (f" — {attempt.error}" if attempt.error else ""),
                   err=True)
    if outcome.error:
        sys.exit(2)


@click.command("extract-pending", help="Extract every raw item waiting for it, writing each "
               "record to Postgres as soon as it is done.")
@click.option("--provider", type=click.Choice(("auto",) + MODES), default=None,
              help="Default: LOMBA_EXTRACTION_PROVIDER (auto = chain when an AI key is set).")
@click.option("--limit", type=int, default=None)
def extract_pending_command(provider: str | None, limit: int | None) -> None:
    import logging

    from lomba_pipeline.catalog.extraction.runner import extract_pending
    from lomba_pipeline.db.migrated import migrated_postgres
    from lomba_pipeline.resources.object_store import object_store_from_settings
    from lomba_pipeline.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    settings = get_settings()
    postgres = migrated_postgres()
    store = object_store_from_settings(settings, for_dagster=False)
    summary = extract_pending(postgres, store, settings, log=logging.getLogger("lomba.extract"),
                              mode=provider, limit=limit)
    click.echo(summary.line())


def register(group: click.Group) -> None:
    group.add_command(extract_command)
    group.add_command(extract_pending_command)
