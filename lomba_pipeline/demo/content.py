"""SYNTHETIC catalog content for the offline demo, the tests and the benchmark.

Every title, organizer and link below is made up. The shapes follow the real sites (domain notes
§A1: infolomba.id cards and detail fields, Blogger JSON feed entries) and real value formats
("1 Agu - 20 Sep 2026", "Start from Rp 75.000 (...)", "SMA / Sederajat, Mahasiswa").
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

TOPICS = [
    ("Business Plan Competition", "Hima Manajemen Universitas Nusantara Contoh"),
    ("Lomba Karya Tulis Ilmiah Nasional", "BEM Fakultas Teknik Universitas Sintetis"),
    ("Olimpiade Sains Pelajar", "Yayasan Cendekia Fiktif"),
    ("Lomba Desain Poster Lingkungan", "Komunitas Hijau Demo"),
    ("Hackathon Smart City", "Dinas Kominfo Kota Contoh"),
    ("Lomba Debat Bahasa Inggris", "English Club Universitas Rekaan"),
    ("Kompetisi UI/UX Design", "Himpunan Informatika Politeknik Sampel"),
    ("Lomba Fotografi Budaya", "Sanggar Seni Imajiner"),
    ("Essay Competition Kebangsaan", "Forum Mahasiswa Fiktif"),
    ("Lomba Cerpen Remaja", "Penerbit Buku Contoh"),
    ("Kompetisi Pasar Modal", "KSPM Universitas Demo"),
    ("Lomba Video Pendek Anti Korupsi", "Lembaga Integritas Sintetis"),
]
LEVELS = [
    "SMA / Sederajat, Mahasiswa",
    "Mahasiswa",
    "SD / Sederajat, SMP / Sederajat",
    "Umum",
    "SMP / Sederajat, SMA / Sederajat",
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]


@dataclass
class SyntheticEvent:
    id: int
    title: str
    organizer: str
    tanggal: str
    biaya: str
    lokasi: str
    target: str
    description: str
    registration_url: str
    past: bool = False
    detail: str = "ok"  # ok | missing (404) | garbage (not JSON) | flaky (one 503 first)
    poster: str = "png"  # png | html (not an image) | huge | none

    @property
    def slug(self) -> str:
        words = "".join(c if c.isalnum() else "-" for c in self.title.lower()).split("-")
        return "info-" + "-".join(w for w in words if w)


@dataclass
class SyntheticBlogPost:
    id: int
    title: str
    body: str
    published: datetime
    labels: list[str] = field(default_factory=list)


def make_events(count: int, start_id: int = 3000) -> list[SyntheticEvent]:
    events = []
    for n in range(count):
        title, organizer = TOPICS[n % len(TOPICS)]
        month = n % 12
        year = 2026 + (n // 120)
        day = 1 + n % 20
        fee = 0 if n % 4 == 0 else 25_000 + 5_000 * (n % 7)
        events.append(
            SyntheticEvent(
                id=start_id + n,
                title=f"{title} {year} #{n + 1}",
                organizer=organizer,
                tanggal=f"{day} {MONTHS[month]} - {day + 7} {MONTHS[(month + 1) % 12]} {year}",
                biaya="Gratis" if fee == 0 else f"Start from Rp {fee:,}".replace(",", "."),
                lokasi="Online" if n % 3 else "Jakarta",
                target=LEVELS[n % len(LEVELS)],
                description=(
                    f"[SINTETIS] {title} tingkat nasional. Pendaftaran dibuka {day} "
                    f"{MONTHS[month]} {year}. Terbuka untuk {LEVELS[n % len(LEVELS)]}. "
                    "Total hadiah jutaan rupiah dan sertifikat."
                ),
                registration_url=f"https://forms.example.invalid/daftar-{start_id + n}",
            )
        )
    return events


def make_blog_posts(count: int, now: datetime, prefix: str = "Blog") -> list[SyntheticBlogPost]:
    posts = []
    for n in range(count):
        title, organizer = TOPICS[(n + 5) % len(TOPICS)]
        posts.append(
            SyntheticBlogPost(
                id=9000 + n,
                title=f"[{prefix}] {title} {organizer}",
                body=(
                    f"<p>[SINTETIS] {title} oleh {organizer}.</p>"
                    f"<p>Deadline 20 Desember 2026. HTM Rp 50.000.</p>"
                ),
                # the last one is stale: the freshness filter must drop it
                published=now - timedelta(days=2 + n if n < count - 1 else 400),
                labels=["Lomba", "Mahasiswa"],
            )
        )
    return posts


@dataclass
class SyntheticIgPost:
    pk: int
    caption: str
    taken_at: datetime


def make_ig_posts(username: str, window_start: datetime, count: int = 3) -> list[SyntheticIgPost]:
    """Posts spread over the window before ``window_start`` + 6 h, plus one older post."""
    # stable across processes (hash() is salted per process): reruns see the same posts
    base_pk = 3_700_000_000_000_000_000 + (zlib.crc32(username.encode()) % 10_000) * 1000
    posts = []
    for n in range(count):
        title, organizer = TOPICS[(n + 2) % len(TOPICS)]
        posts.append(
            SyntheticIgPost(
                pk=base_pk + n,
                caption=(
                    f"*{title.upper()} 2026* [SINTETIS]\nPenyelenggara: {organizer}\n"
                    "Pendaftaran: 1 - 30 Desember 2026\nJenjang: SMA/SMK dan Mahasiswa\n"
                    "HTM Rp 35.000\nCP: 0812-0000-0000\n#lomba #infolomba"
                ),
                taken_at=window_start + timedelta(hours=1 + n),
            )
        )
    posts.append(
        SyntheticIgPost(
            pk=base_pk + 99,
            caption="[SINTETIS] Postingan lama di luar jendela",
            taken_at=window_start - timedelta(days=3),
        )
    )
    return sorted(posts, key=lambda p: p.taken_at, reverse=True)


def default_demo_content(now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    events = make_events(14)
    events[3].past = True  # past events are not listed as new
    events[5].poster = "html"  # a broken poster link: recorded on the item, not a crash
    return {"events": events, "blogs": {"blog": make_blog_posts(4, now)}}
