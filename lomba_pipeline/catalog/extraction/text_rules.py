"""Field rules over normalised caption text: levels, fees, phones, links, location, kind.

Each function takes NFKC-normalised text (see ``normalise``) and returns one field's value or
None. Whole-word regexes throughout: substring matching turned "Mahasiswa" into SMA before.
"""

from __future__ import annotations

import re
import unicodedata

from lomba_pipeline.catalog.extraction.dates import first_range
from lomba_pipeline.catalog.extraction.record import LEVELS, FeeWave

_HASHTAG = re.compile(r"(?<!\w)#[\w_]+")
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D\u20E3\u2190-\u21FF\u2300-\u23FF]"
)


def normalise(text: str | None) -> str:
    """NFKC (mathematical bold → ASCII), unified quotes/dashes kept, markdown stars dropped."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f\u200b]", "", text)  # control chars, zero-width
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
    "SD": re.compile(r"\b(?:SD|MI|sekolah dasar|elementary school)\b", re.IGNORECASE),
    "SMP": re.compile(r"\b(?:SMP|MTs|sekolah menengah pertama|junior high)\b", re.IGNORECASE),
    "SMA": re.compile(
        r"\b(?:SMA|SMK|MA|sekolah menengah atas|(?<!junior )high school|senior high)\b"
        r"|\bkelas\s*(?:10|11|12|X|XI|XII)\b",
        re.IGNORECASE,
    ),
    "Mahasiswa": re.compile(
        r"\b(?:mahasiswa|mahasiswi|mahasiswa/i|D3|D4|S1|perguruan tinggi|college students?|"
        r"undergraduates?|university students?|KTM)\b",
        re.IGNORECASE,
    ),
    "Umum": re.compile(
        r"\b(?:umum|masyarakat umum|general public|open to public|gap\s?year)\b", re.IGNORECASE
    ),
}
# "MA" / "MI" are also plain uppercase words in English captions; accept them only upper-case.
_CASE_SENSITIVE = {"MA", "MI", "SD", "D3", "D4", "S1", "KTM"}


def find_levels(text: str) -> list[str]:
    found = set()
    for level, pattern in _LEVEL_PATTERNS.items():
        for m in pattern.finditer(text):
            word = m.group()
            if word.upper() in _CASE_SENSITIVE and word != word.upper():
                continue
            found.add(level)
            break
    return [level for level in LEVELS if level in found]


# -- fees --------------------------------------------------------------------------------------
_FREE = re.compile(
    r"\b(?:gratis|free|tidak (?:di)?pungut biaya|tidak memungut biaya|tanpa biaya|"
    r"free of charge|bebas biaya)\b|🆓",
    re.IGNORECASE,
)
_FEE_TRIGGER = re.compile(
    r"\b(?:HTM|biaya(?: pendaftaran)?|registration fee|fee|start from|harga|tiket)\b", re.IGNORECASE
)
_AMOUNT = re.compile(
    r"(?:(?P<rp>rp\.?)\s*)?(?P<num>\d{1,3}(?:[.,]\d{3})+|\d+)\s*(?P<unit>k|rb|ribu)?\b"
    r"(?:\s*/\s*\w+)?(?:\s*\((?P<paren>[^)]*)\))?",
    re.IGNORECASE,
)


def _amount(m: re.Match) -> int | None:
    digits = re.sub(r"[.,]", "", m["num"])
    value = int(digits)
    if m["unit"]:
        value *= 1000
    elif not (m["rp"] or re.search(r"[.,]\d{3}$", m["num"])):
        return None  # a bare number ("Batch 1", a year) is not a price
    return value


def find_fee(text: str, fee_hint: str | None = None, posted_at=None) -> tuple[int | None, list[FeeWave]]:
    """(fee_amount, waves): 0 for a free competition; the first wave's amount otherwise."""
    body = without_hashtags(text)
    if _FREE.search(body) and not fee_hint:
        return 0, []
    lines = []
    if fee_hint:
        lines.append(fee_hint)
    else:
        text_lines = body.split("\n")
        for i, line in enumerate(text_lines):
            if _FEE_TRIGGER.search(line):
                # "HTM:" alone on its line: the amounts follow on the next lines
                lines.append(" ".join(text_lines[i:i + 3]) if not _AMOUNT_IN(line) else line)
    waves: list[FeeWave] = []
    for line in lines:
        after = line[_FEE_TRIGGER.search(line).start():] if _FEE_TRIGGER.search(line) else line
        for m in _AMOUNT.finditer(after):
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
            break
    if not waves:
        return None, []
    return waves[0].amount, waves if len(waves) > 1 or waves[0].label or waves[0].end_date else []


def _AMOUNT_IN(line: str) -> bool:
    return any(_amount(m) is not None for m in _AMOUNT.finditer(line))


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
_GUIDE = re.compile(r"panduan|guide|juknis|petunjuk teknis|booklet|rulebook|\btor\b", re.IGNORECASE)
_NOT_REGISTRATION = re.compile(
    r"tutorial|grup|group|saluran|channel|bot|twibbon|instagram|chat\.whatsapp|wa\.me|t\.me/"
    r"|youtube|tiktok",
    re.IGNORECASE,
)
_REGISTRATION = re.compile(
    r"daftar|pendaftaran|registrasi|registration|register|regist|apply|form|link", re.IGNORECASE
)


def _clean_url(raw: str) -> str:
    url = raw.rstrip(".,;:!?")
    return url if url.lower().startswith("http") else "https://" + url


def first_url(text: str) -> str | None:
    """The first URL in a provider's value ("bit.ly/a, bit.ly/b" → https://bit.ly/a)."""
    m = _URL.search(text)
    return _clean_url(m.group()) if m else None


def find_links(text: str) -> tuple[str | None, str | None]:
    """(registration_url, guidebook_url), each read from its label (same line or the line above)."""
    body = without_hashtags(text)
    registration = guide = fallback = None
    for m in _URL.finditer(body):
        url = _clean_url(m.group())
        line_start = body.rfind("\n", 0, m.start()) + 1
        label = body[line_start:m.start()]
        if not re.search(r"[A-Za-z]{3}", label):
            label = body[body.rfind("\n", 0, max(line_start - 1, 0)) + 1:m.start()]
        label_and_url = label + " " + url
        if _NOT_REGISTRATION.search(label_and_url):
            continue
        # a label naming registration wins over a guide mentioned beside it
        if _REGISTRATION.search(label) and not _GUIDE.search(url):
            registration = registration or url
        elif _GUIDE.search(label_and_url):
            guide = guide or url
        else:
            fallback = fallback or url
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
_COMPETITION = re.compile(
    r"\b(?:lomba|perlombaan|kompetisi|competition|competitions|contest|olimpiade|olympiad|"
    r"olympiade|hackathon|cup|championship|challenge|tournament|turnamen|sayembara|"
    r"juara|kejuaraan|pertandingan)\b",
    re.IGNORECASE,
)
_NOT_COMPETITION = re.compile(
    r"\b(?:giveaway|give away|lkmm|pelatihan|training|seminar|webinar|workshop|beasiswa|"
    r"scholarship|bootcamp|kelas online|open recruitment|oprec|lowongan|magang|internship|"
    r"summit|talkshow|sosialisasi)\b",
    re.IGNORECASE,
)


def is_competition(text: str, title: str | None = None) -> bool | None:
    body = without_hashtags(text)
    head = (title or "") + "\n" + "\n".join(body.strip().split("\n")[:3])
    if _NOT_COMPETITION.search(head):
        return False
    if _COMPETITION.search(body) or (title and _COMPETITION.search(title)):
        return True
    if _NOT_COMPETITION.search(body):
        return False
    return None


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
