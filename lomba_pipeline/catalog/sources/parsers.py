"""Site parsers: HTML / JSON of a catalog page → listing dicts. Pure functions over parsel.

Every parser returns ``(listings, errors)``: a card it cannot read becomes an error naming the
card, never an exception that would lose the rest of the page. Links are third-party text: a card
whose own link is not an absolute http(s) URL is skipped with its reason; a bad poster or
registration link is dropped (with a reason) and the card kept.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import urljoin

from parsel import Selector

from lomba_pipeline.catalog.sources.items import BadLink, checked_link

_ONCLICK = re.compile(r"loadDetailsEvent\(\s*'?(\d+)'?\s*,\s*'([^']*)'")
_SPACES = re.compile(r"\s+")


def clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = _SPACES.sub(" ", text).strip()
    return text or None


def joined_text(sel) -> str | None:
    return clean(" ".join(sel.css("::text").getall()))


# -- infolomba.id -------------------------------------------------------------------------------
def infolomba_cards(html: str, base_url: str, include_past: bool = False):
    """Cards of the list page or of a ``/load-event-2`` fragment."""
    listings, errors = [], []
    for index, card in enumerate(Selector(text=html).css(".event-container, div.event-list")):
        title = joined_text(card.css(".event-title a")) or joined_text(card.css("h4.event-title"))
        onclick = card.css("[onclick*=loadDetailsEvent]::attr(onclick)").get() or ""
        match = _ONCLICK.search(onclick)
        if not title or not match:
            snippet = clean(card.get())[:80] if card.get() else ""
            errors.append(f"card {index + 1}: no title or event id ({snippet!r})")
            continue
        event_id, slug = match.groups()
        if "event-past" in (card.attrib.get("class") or "") and not include_past:
            continue
        try:
            url = checked_link(f"{base_url}/{slug}-{event_id}")
        except BadLink as exc:
            errors.append(f"card {index + 1}: skipped, bad link ({exc})")
            continue
        poster = _link_or_none(
            _absolute(base_url, card.css(".img-container img::attr(src)").get()),
            f"card {index + 1}: poster link",
            errors,
        )
        hints = {
            "tanggal": joined_text(card.css(".tanggal")),
            "biaya": joined_text(card.css(".biaya")),
            "lokasi": joined_text(card.css(".lokasi")),
            "penyelenggara": joined_text(card.css(".penyelenggara")),
        }
        listings.append(
            {
                "external_id": event_id,
                "title": title,
                "url": url,
                "image_url": poster,
                "hints": {k: v for k, v in hints.items() if v},
            }
        )
    return listings, errors


def infolomba_detail(html: str, base_url: str) -> dict:
    """Fields of a ``/load-details`` answer (already unwrapped from its JSON)."""
    sel = Selector(text=html)
    organizer = clean(sel.css(".penyelenggara span:last-child::text").get())
    problems: list[str] = []
    registration = _link_or_none(
        sel.css("a.btn.btn-primary[target=_blank]::attr(href)").get(),
        "registration link",
        problems,
    )
    image = _link_or_none(
        _absolute(base_url, sel.css("a.image-link::attr(href)").get()), "poster link", problems
    )
    fields = {
        "organizer": organizer,
        "registration_url": registration,
        "target": joined_text(sel.css(".target")),
        "lokasi": joined_text(sel.css(".lokasi")),
        "tanggal": joined_text(sel.css(".tanggal")),
        "biaya": joined_text(sel.css(".biaya")),
    }
    return {
        "description": joined_text(sel.css("div.event-description-container")),
        "image_url": image,
        "hints": {k: v for k, v in fields.items() if v},
        "problems": problems,
    }


def _absolute(base_url: str, src: str | None) -> str | None:
    """infolomba's ``/images/...`` paths hang off the configured base (which may carry a path)."""
    if not src:
        return None
    if src.startswith(("http://", "https://")) or ":" in src.split("/", 1)[0]:
        return src  # absolute (or another scheme, which the link check then refuses)
    return base_url + "/" + src.lstrip("/")


def _joined(page_url: str, href: str | None) -> str | None:
    if not href:
        return None
    try:
        return urljoin(page_url, href.strip())
    except ValueError:  # e.g. an unbalanced "[" in the host
        return href


def _link_or_none(url: str | None, what: str, errors: list[str]) -> str | None:
    """``url`` if it is a usable http(s) link; otherwise None and a reason in ``errors``."""
    if not url:
        return None
    try:
        return checked_link(url)
    except BadLink as exc:
        errors.append(f"{what} ignored ({exc})")
        return None


def json_html(body: bytes | str, what: str) -> str:
    """``{"html": "..."}`` answers of infolomba's AJAX endpoints."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError(f"{what}: answer is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("html"), str):
        raise ValueError(f"{what}: JSON has no 'html' string")
    return data["html"]


# -- Blogger feeds ------------------------------------------------------------------------------
def blogger_entries(body: bytes | str, feed_url: str, published_after: datetime):
    try:
        feed = json.loads(body)["feed"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{feed_url}: not a Blogger JSON feed") from None
    listings, errors = [], []
    for index, entry in enumerate(feed.get("entry") or []):
        try:
            link = next(
                link["href"] for link in entry.get("link", []) if link.get("rel") == "alternate"
            )
            title = clean(entry["title"]["$t"])
            published = datetime.fromisoformat(entry["published"]["$t"])
        except (KeyError, StopIteration, TypeError, ValueError) as exc:
            errors.append(f"{feed_url} entry {index + 1}: unreadable ({type(exc).__name__})")
            continue
        if published < published_after:
            continue
        try:
            link = checked_link(link)
        except BadLink as exc:
            errors.append(f"{feed_url} entry {index + 1}: skipped, bad link ({exc})")
            continue
        content = (entry.get("content") or entry.get("summary") or {}).get("$t") or ""
        body_sel = Selector(text=content or "<p></p>")
        image = body_sel.css("img::attr(src)").get() or (entry.get("media$thumbnail") or {}).get(
            "url"
        )
        image = _link_or_none(
            _joined(link, image) if isinstance(image, str) else None,
            f"{feed_url} entry {index + 1}: poster link",
            errors,
        )
        listings.append(
            {
                "external_id": (entry.get("id") or {}).get("$t"),
                "title": title,
                "url": link,
                "caption": joined_text(body_sel),
                "image_url": image,
                "posted_at": published,
                "hints": {"labels": [c.get("term") for c in entry.get("category", [])]},
            }
        )
    return listings, errors


# -- generic, config-driven -------------------------------------------------------------------
def generic_cards(html: str, page_url: str, source) -> tuple[list, list]:
    listings, errors = [], []
    for index, card in enumerate(Selector(text=html).css(source.item)):
        title = clean(" ".join(card.css(source.title).getall()))
        link = card.css(source.link).get()
        if not title or not link:
            errors.append(f"{page_url} card {index + 1}: no title or link")
            continue
        try:
            url = checked_link(_joined(page_url, link))
        except BadLink as exc:
            errors.append(f"{page_url} card {index + 1}: skipped, bad link ({exc})")
            continue
        image = _link_or_none(
            _joined(page_url, card.css(source.image).get()) if source.image else None,
            f"{page_url} card {index + 1}: poster link",
            errors,
        )
        hints = {
            name: clean(" ".join(card.css(sel).getall())) for name, sel in source.fields.items()
        }
        listings.append(
            {
                "title": title,
                "url": url,
                "image_url": image,
                "caption": clean(" ".join(card.css(source.description).getall()))
                if source.description
                else None,
                "hints": {k: v for k, v in hints.items() if v},
            }
        )
    return listings, errors


def generic_detail(html: str, page_url: str, selectors) -> dict:
    sel = Selector(text=html)
    problems: list[str] = []
    image = _link_or_none(
        _joined(page_url, sel.css(selectors.image).get()) if selectors.image else None,
        f"{page_url}: poster link",
        problems,
    )
    hints = {name: clean(" ".join(sel.css(s).getall())) for name, s in selectors.fields.items()}
    return {
        "description": clean(" ".join(sel.css(selectors.description).getall()))
        if selectors.description
        else None,
        "image_url": image,
        "hints": {k: v for k, v in hints.items() if v},
        "problems": problems,
    }
