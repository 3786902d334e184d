"""Field rules over normalised caption text: levels, fees, phones, links, location, kind.

Each function takes NFKC-normalised text (see ``normalise``) and returns one field's value or
None. Whole-word regexes throughout: substring matching turned "Mahasiswa" into SMA before.
"""

from __future__ import annotations

import html
import re
import unicodedata

from lomba_pipeline.catalog.extraction.dates import first_range
from lomba_pipeline.catalog.extraction.segments import BOUNDARY, label_before
from lomba_pipeline.catalog.extraction.vocabulary import LEVELS, FeeWave

_HASHTAG = re.compile(r"(?<!\w)#[\w_]+")
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D\u20E3\u2190-\u21FF\u2300-\u23FF]"
)


def normalise(text: str | None) -> str:
    """NFKC (mathematical bold → ASCII), unified quotes/dashes kept, markdown stars dropped."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", html.unescape(text))  # "&nbsp;" from scraped captions
    # control chars, zero-width and invisible separators ("info\u2063lomba" is one word)
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f\u200b\u200c\u2060-\u2064\ufeff]", "", text)
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"\*+", "", text)
    text = text.replace("\r\n", "\n")
    return text


def without_hashtags(text: str) -> str:
    return _HASHTAG.sub(" ", text)


def strip_emoji(text: str) -> str:
    return re.sub(r"[ \t]+", " ", _EMOJI.sub(" ", text)).strip()


# -- levels ------------------------------------------------------------------------------------
_LEVEL_PATTERNS: dict[str, re.Pattern] = {
    "SD": re.compile(r"\b(?:SD|MI|sekolah dasar|elementary school|primary school)\b", re.IGNORECASE),
    "SMP": re.compile(
        r"\b(?:SMP|MTs|sekolah menengah pertama|junior high(?: school)?|middle school)\b",
        re.IGNORECASE,
    ),
    "SMA": re.compile(
        r"\b(?:SMA|SMK|MA|sekolah menengah atas|(?<!junior )high school|senior high(?: school)?)\b"
        r"|\bkelas\s*(?:10|11|12|X|XI|XII)\b",
        re.IGNORECASE,
    ),
    "Mahasiswa": re.compile(
        r"\b(?:mahasiswa|mahasiswi|mahasiswa/i|D3|D4|S1|perguruan tinggi|college students?|"
        r"undergraduates?|university students?|varsity|KTM)\b",
        re.IGNORECASE,
    ),
    # "umum" alone is a heading word ("Ketentuan Umum", "Syarat Umum"): only these phrases
    "Umum": re.compile(
        r"\b(?:masyarakat umum|kategori umum|peserta umum|(?:terbuka )?(?:untuk|bagi) umum|"
        r"(?:SMA|mahasiswa|sederajat)\s*(?:,|/|&|dan|dan juga)\s*umum|umum\s*\(|"
        r"general public|open to (?:the )?public|gap\s?year)\b",
        re.IGNORECASE,
    ),
}
# Words that name the audience only inside an audience phrase (elsewhere they are the
# organizer: "Syiah Kuala University", "Universitas Brawijaya").
_AUDIENCE_ONLY: dict[str, re.Pattern] = {
    "Mahasiswa": re.compile(r"\b(?:universit(?:y|as)|college|kampus|campus)\b", re.IGNORECASE),
    "Umum": re.compile(
        r"(?<!ketentuan )(?<!syarat )(?<!informasi )(?<!info )\bumum\b(?!\s*(?:untuk|bagi))",
        re.IGNORECASE,
    ),
}
# "MA" / "MI" are also plain uppercase words in English captions; accept them only upper-case.
_CASE_SENSITIVE = {"MA", "MI", "SD", "D3", "D4", "S1", "KTM"}
# a level word that starts a school's name is the organizer, not the audience ("SMA Negeri 11")
_SCHOOL_NAME = re.compile(
    r"\b(?:SD|SMP|SMA|SMK|MA|MTs|MI)\s*(?:N(?:egeri)?|S(?:wasta)?|IT|Islam\w*|Muhammadiyah|"
    r"Kristen|Katolik|Plus|Unggulan|Labschool|Al[- ]\w+|Taruna|Kanisius|\d+)\b\.?(?:\s*\d+)?",
)
_AUDIENCE = re.compile(
    r"\b(?:peserta|sasaran|kategori|terbuka (?:untuk|bagi)|open (?:for|to)|eligib\w*|"
    r"diikuti oleh|dapat diikuti|bisa diikuti|untuk seluruh|bagi seluruh|ditujukan|khusus|"
    r"calling (?:all|out)|for all|tingkat|jenjang|target|syarat|ketentuan peserta|"
    r"requirements?|who can (?:join|participate)|participants?)\b",
    re.IGNORECASE,
)
AUDIENCE_WINDOW = 160


def _levels_in(text: str, patterns: dict[str, re.Pattern]) -> set[str]:
    found = set()
    for level, pattern in patterns.items():
        for m in pattern.finditer(text):
            word = m.group()
            if word.upper() in _CASE_SENSITIVE and word != word.upper():
                continue
            found.add(level)
            break
    return found


def find_levels(text: str) -> list[str]:
    """Levels named in ``text`` (a short phrase such as a source's "target" field)."""
    found = _levels_in(_SCHOOL_NAME.sub(" ", text), _LEVEL_PATTERNS)
    return [level for level in LEVELS if level in found]


def audience_text(text: str) -> str:
    """The phrases that name the participants: each audience word and what follows it."""
    parts = []
    covered = 0
    for m in _AUDIENCE.finditer(text):
        start = max(m.start(), covered)
        end = m.start() + AUDIENCE_WINDOW
        if end > start:
            parts.append(text[start:end])
            covered = end
    return "\n".join(parts)


def find_audience_levels(text: str) -> tuple[list[str], str]:
    """(levels, where): from the audience phrases when they name one, else from the whole text;
    never from a school's name, and "umum" only as an audience."""
    audience = _SCHOOL_NAME.sub(" ", audience_text(text))
    found = _levels_in(audience, _LEVEL_PATTERNS) | _levels_in(audience, _AUDIENCE_ONLY)
    where = "audience"
    if not found:
        found, where = _levels_in(_SCHOOL_NAME.sub(" ", text), _LEVEL_PATTERNS), "text"
    return [level for level in LEVELS if level in found], where


# -- fees --------------------------------------------------------------------------------------
_FREE = re.compile(
    r"\b(?:gratis|free|tidak (?:di)?pungut biaya|tidak memungut biaya|tanpa biaya|"
    r"free of charge|bebas biaya)\b|🆓",
    re.IGNORECASE,
)
_FEE_TRIGGER = re.compile(
    r"\b(?:HTM|biaya(?: pendaftaran)?|registration fee|entry fee|fee|start from|mulai dari|harga|"
    r"tiket|payment|pembayaran(?: sebesar)?|investasi|kontribusi|contribution|hanya|only)\b",
    re.IGNORECASE,
)
# words after which an amount must follow closely: they are fee labels only next to a price
_WEAK_TRIGGER = {"hanya", "only", "investasi", "kontribusi", "contribution", "payment",
                 "pembayaran", "pembayaran sebesar", "mulai dari", "start from"}
_NOT_FEE = re.compile(r"\b(?:hadiah|prize|juara|pemenang|winner|total|uang pembinaan)\b",
                      re.IGNORECASE)
_AMOUNT = re.compile(
    r"(?:(?P<rp>rp\.?|idr)\s*)?"
    r"(?P<num>\d{1,3}(?:[.,]\d{3})+|\d+(?:[.,]\d{1,2}(?!\d))?)(?:,-|,00(?!\d)|\.-)?"
    r"\s*(?P<unit>k|rb|ribu|juta|jt)?\b"
    r"(?:\s*(?:/|per)\s*\w+)?(?:\s*\((?P<paren>[^)]{0,80})\))?",
    re.IGNORECASE,
)
FEE_WINDOW = 200  # characters read after a fee label
_UNITS = {"k": 1000, "rb": 1000, "ribu": 1000, "juta": 1_000_000, "jt": 1_000_000}


def _amount(m: re.Match) -> int | None:
    num, unit = m["num"], (m["unit"] or "").lower()
    if unit:
        return int(round(float(num.replace(",", ".")) * _UNITS[unit])) if not re.search(
            r"[.,]\d{3}", num) else int(re.sub(r"[.,]", "", num)) * _UNITS[unit]
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", num):
        return int(re.sub(r"[.,]", "", num))
    if m["rp"]:
        return int(re.split(r"[.,]", num)[0])
    return None  # a bare number ("Batch 1", a year) is not a price


def _fee_window(body: str, trigger: re.Match) -> str:
    """The text a fee label governs: up to ``FEE_WINDOW`` characters, cut before a prize."""
    window = body[trigger.start(): trigger.start() + FEE_WINDOW]
    stop = _NOT_FEE.search(window, len(trigger.group()))
    return window[: stop.start()] if stop else window


def find_fee(text: str, fee_hint: str | None = None, posted_at=None) -> tuple[int | None, list[FeeWave]]:
    """(fee_amount, waves): 0 for a free competition; the first wave's amount otherwise.

    Amounts count next to a fee label (biaya/HTM/fee/payment/pembayaran/investasi/kontribusi,
    or "hanya"/"only" directly before a price), in Rp/IDR/k/rb/ribu/juta forms."""
    body = without_hashtags(text)
    if _FREE.search(body) and not fee_hint:
        return 0, []
    windows = [fee_hint] if fee_hint else []
    if not fee_hint:
        for trigger in _FEE_TRIGGER.finditer(body):
            window = _fee_window(body, trigger)
            if trigger.group().lower() in _WEAK_TRIGGER:
                first = next((m for m in _AMOUNT.finditer(window) if _amount(m) is not None), None)
                if first is None or first.start() > len(trigger.group()) + 25:
                    continue
            windows.append(window)
    for window in windows:
        waves: list[FeeWave] = []
        for m in _AMOUNT.finditer(window):
            value = _amount(m)
            if value is None:
                continue
            wave = FeeWave(amount=value)
            if m["paren"]:
                period = first_range(m["paren"], posted_at)
                if period:
                    wave.start_date, wave.end_date = period
                else:
                    wave.label = m["paren"].strip()
            waves.append(wave)
        if waves:
            return waves[0].amount, waves if len(waves) > 1 or waves[0].label or waves[0].end_date else []
    return None, []


# -- phones ------------------------------------------------------------------------------------
_PHONE = re.compile(r"(?<![\w.])(?:\+?62|0)[\s\-.]?\d{2,4}(?:[\s\-.]?\d{2,5}){1,3}(?!\w|[.,]\d)")


def find_phones(text: str) -> list[str]:
    """Indonesian numbers normalised to +62…, in order, without duplicates."""
    out: list[str] = []
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        national = digits[2:] if digits.startswith("62") else digits[1:]
        if not 9 <= len(national) <= 12 or national[0] == "0":
            continue
        if national[0] != "8" and len(national) > 11:
            continue
        phone = "+62" + national
        if phone not in out:
            out.append(phone)
    return out


# -- links -------------------------------------------------------------------------------------
_TLDS = r"(?:id|com|org|net|ly|ee|gle|io|co|me|link|app|dev|site|xyz|my\.id|ac\.id|go\.id|sch\.id)"
_URL = re.compile(
    rf"https?://[^\s<>\"')\]]+|(?<![@\w.])(?:[a-z0-9-]+\.)+{_TLDS}(?:/[^\s<>\"')\]]*)?(?![\w.])"
    r"|(?<![@\w.])(?:[a-z0-9-]+\.)+[a-z]{2,}/[^\s<>\"')\]]+",
    re.IGNORECASE,
)
_GUIDE = re.compile(
    r"panduan|guide|juknis|petunjuk teknis|booklet|rulebook|\btor\b|template|twibbon|"
    r"ketentuan lengkap|syarat (?:dan|&) ketentuan",
    re.IGNORECASE,
)
_NOT_REGISTRATION = re.compile(
    r"tutorial|grup|group|saluran|channel|\bbot\b|twibbon|template|instagram|chat\.whatsapp|"
    r"wa\.me|t\.me/|line\.me/|youtube|tiktok|submit|submission|pengumpulan|unggah karya",
    re.IGNORECASE,
)
_REGISTRATION = re.compile(
    r"\b(?:daftar|mendaftar|pendaftaran|registrasi|registration|register|regist\w*|apply|"
    r"form|formulir)",
    re.IGNORECASE,
)
# a link hub holds every link of the event (the form among them); it is never "the guidebook"
_LINK_HUB = re.compile(r"^https?://(?:www\.)?(?:linktr\.ee|lynk\.id|bio\.link|linkin\.bio|"
                       r"beacons\.ai|taplink\.cc|heylink\.me)/", re.IGNORECASE)


def _clean_url(raw: str) -> str:
    url = raw.rstrip(".,;:!?")
    return url if url.lower().startswith("http") else "https://" + url


def first_url(text: str) -> str | None:
    """The first URL in a provider's value ("bit.ly/a, bit.ly/b" → https://bit.ly/a)."""
    m = _URL.search(text)
    return _clean_url(m.group()) if m else None


def _is_home_page(url: str) -> bool:
    return re.fullmatch(r"https?://[^/]+/?", url) is not None


def find_links(text: str) -> tuple[str | None, str | None]:
    """(registration_url, guidebook_url), each read from its label: the words just before the
    link, in its segment or the one before (bounded, so linear in the text)."""
    body = without_hashtags(text)
    registration = guide = None
    fallbacks: list[str] = []
    floor = 0
    for m in _URL.finditer(body):
        url = _clean_url(m.group())
        label = label_before(body, m.start(), floor)
        floor = m.end()
        if _NOT_REGISTRATION.search(label) or _NOT_REGISTRATION.search(url):
            if _GUIDE.search(url) and not re.search(r"twibbon|template", label + url, re.I):
                guide = guide or url
            continue
        # a guidebook is a document: a site's bare home page is never one
        guide_like = bool(_GUIDE.search(url)) or (
            bool(_GUIDE.search(label)) and not _is_home_page(url)
        )
        if _REGISTRATION.search(label) and not _GUIDE.search(url):
            registration = registration or url  # a registration label wins over a guide beside it
        elif guide_like:
            guide = guide or url
        else:
            fallbacks.append(url)
    # unlabelled links: a page over a bare home page
    fallback = next((u for u in fallbacks if not _is_home_page(u)), fallbacks[0] if fallbacks else None)
    if not (registration or fallback) and guide and _LINK_HUB.match(guide):
        fallback = guide  # "booklet dan formulir di linktree berikut": the hub holds the form
    return registration or fallback, guide


# -- location ----------------------------------------------------------------------------------
_LOCATION_LABEL = re.compile(
    r"^\W*(?:tempat|lokasi|location|venue|di ?mana|where)\b\s*[:?]?\s*(?P<rest>.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_FOREIGN = re.compile(
    r"\b(?:toronto|london|canada|kanada|singapore|singapura|malaysia|kuala lumpur|bangkok|"
    r"thailand|tokyo|japan|jepang|korea|seoul|australia|sydney|melbourne|usa|united states|"
    r"amerika|new york|paris|france|perancis|germany|jerman|netherlands|belanda|turki|turkey|"
    r"istanbul|dubai|qatar|saudi|mesir|egypt|china|tiongkok|beijing|hong kong|taiwan|"
    r"philippines|filipina|vietnam|india|uk|united kingdom|inggris raya|abroad|luar negeri)\b",
    re.IGNORECASE,
)
_ONLINE = re.compile(r"\b(?:online|daring|virtual|zoom|google meet)\b", re.IGNORECASE)


def find_location(text: str, hint: str | None = None) -> tuple[str | None, bool | None, bool | None]:
    """(location, is_online, is_abroad)."""
    body = without_hashtags(text)
    location = hint
    if location is None:
        for m in _LOCATION_LABEL.finditer(body):
            rest = strip_emoji(m["rest"])
            if not rest:  # "🌍 Where?" with the answer on the next line
                following = body[m.end():].lstrip("\n").split("\n", 1)[0]
                rest = strip_emoji(following)
            if rest:
                location = re.split(r"\s[–—]\s", rest)[0].rstrip(".!")
                break
    if location is None:
        if _ONLINE.search(body):
            location = "Online"
        else:
            return None, None, None
    is_online = bool(_ONLINE.search(location))
    if re.match(r"^\s*online\b", location, re.IGNORECASE) and "offline" not in location.lower():
        location = "Online"
    return location, is_online, bool(_FOREIGN.search(location))


# -- is it a competition? ----------------------------------------------------------------------
# (pattern, weight): one concept each, counted once per place (the title counts three times).
# Competition words count for; other kinds of event (in any language) count against.
_SIGNALS: list[tuple[str, int]] = [
    (r"lomba|perlombaan|kompetisi|competitions?|contests?|sayembara|hackathon|championship|"
     r"tournament|turnamen|kejuaraan|pertandingan|call for papers?|cup|challenge", 2),
    (r"olimpiade|olympiad|olympiade", 2),
    (r"juara|pemenang|winners?|finalis", 1),
    (r"hadiah|prizes?|prize ?pool|medali|trofi|trophy|uang pembinaan", 1),
    (r"karya|submission", 1),
    (r"giveaway|give away|promo|diskon|discount", -1),
    (r"webinar|seminar|workshop|talkshow|sosialisasi|summit|expo|pameran|konser|concert", -1),
    (r"pelatihan|training|bootcamp|course|kursus|bimbingan|bimbel|mentoring|belajar bareng|"
     r"kelas (?:online|offline|gratis|intensif|persiapan)|open class|online class|lkmm|"
     r"tryout|try out", -1),
    (r"beasiswa|scholarship|lowongan|loker|magang|internship|open recruitment|oprec|"
     r"volunteer|relawan", -1),
    (r"kongres|congress|kunjungan|campus visit|campus tour|donasi", -1),
    (r"kalender|calendar|libur|liburan|tanggal merah|cuti bersama", -1),
]
_SIGNAL_RES = [(re.compile(rf"\b(?:{p})\b", re.IGNORECASE), w) for p, w in _SIGNALS]
_COMPETITION = re.compile(
    r"\b(?:lomba|perlombaan|kompetisi|competition|competitions|contest|olimpiade|olympiad|"
    r"olympiade|hackathon|cup|championship|challenge|tournament|turnamen|sayembara|"
    r"juara|kejuaraan|pertandingan)\b",
    re.IGNORECASE,
)  # words that make a line a title
TITLE_WEIGHT = 3
_MIN_WORDS_FOR_NO = 25  # a real announcement this long with no competition word is not one


def _title_of(body: str, title: str | None) -> str:
    """The title, or the first segment with words (flattened captions have no first line)."""
    if title:
        return title
    for part in BOUNDARY.split(body[:300]):
        if re.search(r"[A-Za-z]{3}", part):
            return part
    return ""


def competition_score(text: str, title: str | None = None) -> tuple[int, list[str], bool]:
    """(score, signals, the title names another kind of event first).

    The title's first kind word is what the post is ("Bimbingan persiapan olimpiade" is a
    coaching class, "Lomba mewarnai liburan sekolah" a competition)."""
    body = without_hashtags(text)
    head = _title_of(body.strip(), title)
    score, signals = 0, []
    first_kind: tuple[int, int] | None = None  # (position, weight) of the title's first kind word
    for place, part, factor in (("judul", head, TITLE_WEIGHT), ("teks", body, 1)):
        for pattern, weight in _SIGNAL_RES:
            m = pattern.search(part)
            if m:
                score += weight * factor
                signals.append(f"{'+' if weight > 0 else '-'}{m.group().lower()}@{place}")
                if place == "judul" and weight != 1 and (first_kind is None or m.start() < first_kind[0]):
                    first_kind = (m.start(), weight)
    return score, signals, first_kind is not None and first_kind[1] < 0


def is_competition_with_reasons(text: str, title: str | None = None) -> tuple[bool | None, str]:
    """(is it a competition, why): ``False`` when the title names another kind of event first
    (a giveaway, a training) or the signals weigh against it, or when a long announcement never
    names a competition; ``None`` only when the evidence is even or too thin."""
    score, signals, title_against = competition_score(text, title)
    why = f"skor {score}: " + ", ".join(signals)
    if title_against:
        return False, "judul bukan lomba; " + why
    if score > 0 and any(s.startswith("+") for s in signals):
        return True, why
    if score < 0:
        return False, why
    if not signals and len(without_hashtags(text).split()) >= _MIN_WORDS_FOR_NO:
        return False, "tidak ada kata lomba/kompetisi"
    return None, why if signals else "teks terlalu sedikit"


def is_competition(text: str, title: str | None = None) -> bool | None:
    return is_competition_with_reasons(text, title)[0]


# -- categories and tags -----------------------------------------------------------------------
# tag -> (pattern, category); a tag's category becomes one of the record's categories
_TAGS: list[tuple[str, str, str]] = [
    ("KTI", r"kti|lkti|karya tulis(?: ilmiah)?|scientific (?:paper|writing)|paper", "Akademik & Sains"),
    ("Esai", r"esai|essay", "Sastra & Bahasa"),
    ("Olimpiade", r"olimpiade|olympiad|olympiade|osn|onsb|ksai|sains|science", "Akademik & Sains"),
    ("Debat", r"debat|debate", "Sastra & Bahasa"),
    ("Business Plan", r"business plan|bpc", "Bisnis & Startup"),
    ("Business Case", r"business case|bcc|case competition", "Bisnis & Startup"),
    ("Pasar Modal", r"pasar modal|investment|investasi|saham|trading", "Bisnis & Startup"),
    ("Startup", r"startup|start-up|founders?", "Bisnis & Startup"),
    ("Poster", r"poster", "Seni & Kreatif"),
    ("Infografis", r"infografis|infographics?", "Seni & Kreatif"),
    ("Fotografi", r"fotografi|photography|foto", "Seni & Kreatif"),
    ("Videografi", r"video(?:grafi)?|film pendek|short movie|short film|vlog|konten video",
     "Seni & Kreatif"),
    ("Desain", r"desain|design|ilustrasi|illustration|maskot|mascot|gambar|mewarnai|coloring|komik|comic",
     "Seni & Kreatif"),
    ("Musik", r"vokal|vocal|solo song|band|musik|music|voice over", "Seni & Kreatif"),
    ("Tari", r"tari|dance|ratoh jaroe", "Seni & Kreatif"),
    ("UI/UX", r"ui/ux|ui ux|user interface", "Teknologi & IT"),
    ("Hackathon", r"hackathon|game jam|hack", "Teknologi & IT"),
    ("Programming", r"programming|coding|ctf|competitive programming|computing|komputasi|"
     r"informatika|aplikasi|app|robot|robotik|ai|artificial intelligence", "Teknologi & IT"),
    ("Cerpen", r"cerpen|cerita pendek|short story|menulis cerita", "Sastra & Bahasa"),
    ("Puisi", r"puisi|poetry|poem", "Sastra & Bahasa"),
    ("Pidato", r"pidato|speech|story ?telling|storytelling", "Sastra & Bahasa"),
    ("Menulis", r"menulis|penulisan|writing|surat", "Sastra & Bahasa"),
    ("Bahasa", r"bahasa arab|english|bahasa inggris|sastra", "Sastra & Bahasa"),
    ("MTQ", r"mtq|tilawah|tartil|tahfidz|kaligrafi|dai|da'i|adzan|islami|islamic|religi|"
     r"al-aqsha|hadroh|nasyid", "Keagamaan"),
    ("E-sports", r"e-?sports?|mlbb|mobile legends|pubg|valorant|free fire", "Olahraga & E-sports"),
    ("Olahraga", r"futsal|basket|badminton|sepak bola|voli|volley|olahraga|sport|catur|chess|"
     r"pencak silat|taekwondo|karate|atletik|renang", "Olahraga & E-sports"),
    ("Lingkungan", r"lingkungan|environment|sdgs?|iklim|climate|ecovolution|sampah",
     "Sosial & Lingkungan"),
    ("Sosial", r"sosial(?! media)|social(?! media)|advocacy|advokasi|kemanusiaan|red cross", "Sosial & Lingkungan"),
    ("Hukum", r"moot court|legal|law|hukum|konstitusi|constitutional", "Sosial & Lingkungan"),
    ("Ekonomi", r"ekonomi|economics|tax|pajak|akuntansi|accounting", "Akademik & Sains"),
    ("Kesehatan", r"kesehatan|health|medis|medical|kedokteran|dentistry|pharma|farmasi|"
     r"veterinary|sehat", "Akademik & Sains"),
]
_TAG_RES = [(tag, re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE), cat) for tag, pattern, cat in _TAGS]


def find_categories(text: str) -> tuple[list[str], list[str]]:
    """(categories from the fixed vocabulary, free tags), in order of first mention."""
    body = without_hashtags(text)
    hits = []
    for tag, pattern, category in _TAG_RES:
        m = pattern.search(body)
        if m:
            hits.append((m.start(), tag, category))
    hits.sort()
    tags = [tag for _, tag, _ in hits]
    categories: list[str] = []
    for _, _, category in hits:
        if category not in categories:
            categories.append(category)
    return categories, tags


# -- organizer, title, prize, contact ----------------------------------------------------------
_ORGANIZER = re.compile(
    r"(?:diselenggarakan oleh|diadakan oleh|dipersembahkan oleh|organi[sz]ed by|presented by|"
    r"hosted by|penyelenggara\s*:)\s*(?P<name>[^\n:.!,;]{2,80})",
    re.IGNORECASE,
)


def find_organizer(text: str) -> str | None:
    m = _ORGANIZER.search(without_hashtags(text))
    if not m:
        return None
    name = strip_emoji(m["name"]).strip(" -–—")
    name = re.split(r"\s+(?:dalam rangka|untuk|yang|pada|di)\b", name)[0].strip()
    return name or None


_HYPE = re.compile(
    r"\[?\s*(?:extended|open registration|is back!?|is here!?|resmi dibuka!?|hadir kembali!?|"
    r"informasi|info lomba)\s*\]?\s*[:|!]*",
    re.IGNORECASE,
)
_TITLE_WORD = re.compile(
    _COMPETITION.pattern + r"|\b(?:festival|fest|jam|lkmm|giveaway|hack the)\b", re.IGNORECASE
)


def find_title(text: str) -> str | None:
    lines = [strip_emoji(line).strip(" *[]!:-–|") for line in without_hashtags(text).split("\n")]
    lines = [line for line in lines if re.search(r"[A-Za-z]{2}", line)]
    if not lines:
        return None
    first = lines[0]
    letters = [c for c in first if c.isalpha()]
    shouting = letters and sum(c.isupper() for c in letters) / len(letters) > 0.6
    if len(first) <= 70 and (shouting or _HYPE.search(first)):
        chosen = first  # "DINACOM 11.0 IS BACK!": the name comes first
    else:
        chosen = next(
            (line for line in lines[:10] if len(line) <= 90 and _TITLE_WORD.search(line)), first
        )
    if len(chosen) > 90:
        chosen = re.split(r"(?<=[.!?])\s", chosen)[0]
        chosen = chosen if len(chosen) <= 90 else chosen[:90].rsplit(" ", 1)[0]
    title = _HYPE.sub(" ", chosen)
    title = re.sub(r"\s+", " ", title).strip(" -–|:,")
    return title[:200] or None


_PRIZE_TOTAL = re.compile(r"(?:total hadiah|hadiah total|total prize|prize ?pool|total prizepool)",
                          re.IGNORECASE)
_PRIZE_ANY = re.compile(r"\b(?:hadiah|prize|juara 1)\b", re.IGNORECASE)


def find_prize(text: str) -> str | None:
    lines = without_hashtags(text).split("\n")  # line by line: no quadratic scans on long lines
    for pattern in (_PRIZE_TOTAL, _PRIZE_ANY):
        for line in lines:
            m = pattern.search(line)
            if m:
                start = m.start() if pattern is _PRIZE_TOTAL else 0
                return strip_emoji(line[start:]).strip(" :!")[:200]
    return None


def find_contact(text: str) -> str | None:
    body = without_hashtags(text)
    for line in body.split("\n"):
        if find_phones(line):
            return strip_emoji(line).strip(" :")[:200]
    return None
