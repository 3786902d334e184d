"""Rule families for real-world announcements, each on texts written for this test (synthetic,
in the styles seen on Instagram and catalog sites): timelines with several labelled phases,
registration waves, one-line captions, English dates with ordinals, "umum" traps, organizer
names holding a level word, posts with several links, fees without a "biaya" label, and the
reasons behind is_competition."""

import datetime as dt

import pytest

from lomba_pipeline.catalog.extraction.rules import (
    COMPETITION_SIGNALS_KEY,
    EXTRACTION_TEXT_LIMIT,
    extract_with_rules,
    text_for_extraction,
)
from lomba_pipeline.catalog.extraction.text_rules import find_audience_levels, find_fee, find_links

D = dt.date.fromisoformat


def dates_of(text: str, posted: str) -> tuple[str | None, str | None]:
    record = extract_with_rules(text, D(posted))
    return (
        record.start_date.isoformat() if record.start_date else None,
        record.end_date.isoformat() if record.end_date else None,
    )


# -- timelines ---------------------------------------------------------------------------------
def test_timeline_with_five_phases_on_separate_lines():
    text = (
        "LOMBA KARYA TULIS PELAJAR\n"
        "Jadwal:\n"
        "Pendaftaran: 3 - 28 Februari 2027\n"
        "Pengumpulan naskah: 1 - 10 Maret 2027\n"
        "Penjurian: 11 - 20 Maret 2027\n"
        "Pengumuman finalis: 22 Maret 2027\n"
        "Final: 5 April 2027"
    )
    record = extract_with_rules(text, D("2027-01-20"))
    assert (record.start_date, record.end_date) == (D("2027-02-03"), D("2027-02-28"))
    assert (record.event_start_date, record.event_end_date) == (D("2027-03-11"), D("2027-04-05"))


def test_flattened_timeline_separated_by_emoji_takes_the_registration_phase():
    text = ("Kompetisi Robotika Pelajar 2027 🗓 Registrasi: 4 - 30 Mei 2027 📌 Seleksi berkas: "
            "2 - 9 Juni 2027 📌 Technical meeting: 12 Juni 2027 📌 Grand final: 20 Juni 2027")
    assert dates_of(text, "2027-04-25") == ("2027-05-04", "2027-05-30")


def test_registration_and_submission_in_one_label_is_registration():
    text = "Lomba esai 🗓 Registration & Submission: 2 - 29 August 2027 🗓 Winner announcement: 9 September 2027"
    assert dates_of(text, "2027-07-30") == ("2027-08-02", "2027-08-29")


def test_a_separate_submission_deadline_is_not_the_registration_deadline():
    text = ("Lomba poster\nPendaftaran dibuka 1 Oktober 2027 dan ditutup 20 Oktober 2027\n"
            "Batas pengumpulan karya: 30 Oktober 2027")
    assert dates_of(text, "2027-09-25") == ("2027-10-01", "2027-10-20")


def test_date_first_timeline_with_labels_after_the_dates():
    text = ("OPEN REGISTRATION LOMBA MENULIS 📆 TIMELINE - 5 Maret 2027 - 18 Maret 2027 : "
            "Pendaftaran - 19-25 Maret 2027 : Pengumpulan naskah - 28 Maret 2027 : Pengumuman")
    assert dates_of(text, "2027-03-01") == ("2027-03-05", "2027-03-18")


def test_english_timeline_with_labels_after_month_first_dates():
    text = ("Design contest 🗓 Registration: 📌 March 2nd – April 20th, 2027 🔹 Apr 22 – Technical "
            "Meeting 🔹 Apr 25–30 – Judging 🔹 May 3 – Awarding")
    assert dates_of(text, "2027-02-25") == ("2027-03-02", "2027-04-20")


# -- waves -------------------------------------------------------------------------------------
def test_waves_end_with_the_last_wave():
    text = ("Lomba debat\n📆 Pendaftaran\n- Early bird: 1 - 10 Juni 2027\n- Gelombang 1: 11 - 25 Juni 2027\n"
            "- Gelombang 2: 26 Juni - 15 Juli 2027\n📆 Babak penyisihan: 20 Juli 2027")
    assert dates_of(text, "2027-05-28") == ("2027-06-01", "2027-07-15")


def test_unlabelled_wave_after_an_early_bird_in_one_sentence_continues_it():
    text = ("Lomba band SMA 💸 Biaya pendaftaran mulai dari Rp 80.000 - Early Bird (2-9 Agustus) - "
            "Reguler (10 Agustus - 5 September) 📍 Daftar: bit.ly/bandfest27")
    assert dates_of(text, "2027-07-30") == ("2027-08-02", "2027-09-05")


def test_english_waves_month_first_with_batch_labels():
    text = ("Storytelling competition 💸 Registration: Batch 1: 🗓 May 3 – May 12, 2027 💰 Fee: Rp 25,000 "
            "Batch 2: 🗓 May 13 – May 24, 2027 💰 Fee: Rp 30,000")
    assert dates_of(text, "2027-04-28") == ("2027-05-03", "2027-05-24")


# -- English forms, ordinals, till/until/sampai -----------------------------------------------
@pytest.mark.parametrize("text,posted,expected", [
    ("Registration from 4 October till 2 November 2027", "2027-09-20", ("2027-10-04", "2027-11-02")),
    ("Registration period: 12th - 30th June 2027", "2027-06-01", ("2027-06-12", "2027-06-30")),
    ("Registration: September 21st - October 9th, 2027", "2027-09-01", ("2027-09-21", "2027-10-09")),
    ("Registration open until 14 Nov 2027", "2027-10-01", (None, "2027-11-14")),
    ("Pendaftaran diperpanjang sampai tanggal 9 Desember", "2027-11-30", (None, "2027-12-09")),
    ("Pendaftaran 15 Des - 10 Jan", "2027-12-01", ("2027-12-15", "2028-01-10")),  # crosses the year
    ("Pendaftaran 28 Okt - 6 Nov", "2027-10-20", ("2027-10-28", "2027-11-06")),  # crosses a month
    ("Pendaftaran: 5 - 20 Feb", "2027-11-15", ("2028-02-05", "2028-02-20")),  # rolled forward
    ("Pendaftaran dibuka mulai 31 September - 15 Oktober 2027", "2027-09-10",
     ("2027-09-30", "2027-10-15")),  # a day past the month's end means its last day
])
def test_english_and_indonesian_range_forms(text, posted, expected):
    assert dates_of(text, posted) == expected


# -- levels ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,levels", [
    # headings with the word "umum" are not an audience
    ("Ketentuan Umum: peserta adalah mahasiswa aktif", ["Mahasiswa"]),
    ("📌 Syarat Umum • Siswa SMA/SMK sederajat • membawa kartu pelajar", ["SMA"]),
    ("Peserta: masyarakat umum berusia 17 tahun ke atas", ["Umum"]),
    ("Lomba ini terbuka untuk umum", ["Umum"]),
    ("Kategori peserta: SMP, SMA, dan umum", ["SMP", "SMA", "Umum"]),
    # a school in the organizer's name is not the audience
    ("Diselenggarakan oleh OSIS SMA Negeri 3 Bandung. Terbuka untuk siswa SMP/MTs se-Jawa Barat",
     ["SMP"]),
    ("Dipersembahkan oleh SMK Muhammadiyah 2 untuk pelajar SD dan SMP", ["SD", "SMP"]),
    # English audience words
    ("Open for undergraduate and varsity students across Indonesia", ["Mahasiswa"]),
    ("Eligibility: senior high school students", ["SMA"]),
    ("Calling all junior high students to join!", ["SMP"]),
    ("Open to university students and the general public", ["Mahasiswa", "Umum"]),
])
def test_levels_come_from_the_audience_phrase(text, levels):
    assert find_audience_levels(text)[0] == levels


def test_organizer_university_name_is_not_a_level_outside_the_audience():
    record = extract_with_rules(
        "Poster competition by Universitas Maju Jaya. Peserta: siswa SMA sederajat.", D("2027-01-01")
    )
    assert record.levels == ["SMA"]


# -- links -------------------------------------------------------------------------------------
def test_registration_link_wins_over_home_page_guidebook_and_twibbon():
    text = ("LOMBA FOTO 2027 info di www.fotonusantara.id 📘 Juknis: bit.ly/juknisfoto27 "
            "🖼 Twibbon: bit.ly/twbfoto27 📝 Link pendaftaran: forms.gle/FotoDaftar27 "
            "📄 Template karya: bit.ly/templatefoto27 📞 CP: wa.me/6281200001111")
    registration, guide = find_links(text)
    assert registration == "https://forms.gle/FotoDaftar27"
    assert guide == "https://bit.ly/juknisfoto27"


def test_a_guidebook_label_never_makes_a_registration_link():
    text = "🖇 LINK GUIDEBOOK https://drive.google.com/file/d/abc/view ⚙ LINK PENDAFTARAN https://forms.gle/xyz"
    assert find_links(text) == ("https://forms.gle/xyz", "https://drive.google.com/file/d/abc/view")


def test_only_links_far_apart_on_one_line_each_get_their_own_label():
    filler = "kalimat pengisi tanpa makna apa pun " * 20
    text = f"Daftar di sini: bit.ly/daftarA {filler} Panduan lengkap: bit.ly/bukuB {filler} s.id/lainC"
    assert find_links(text) == ("https://bit.ly/daftarA", "https://bit.ly/bukuB")


def test_chat_links_are_contacts_not_registration():
    text = "Lomba cerpen. Kontak: line.me/ti/p/~panitia wa.me/6281300002222 Info: cerpenku.id/lomba"
    assert find_links(text)[0] == "https://cerpenku.id/lomba"


# -- fees --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,amount", [
    ("💳 Payment: Rp 45.000 per tim ke rekening panitia", 45000),
    ("Daftar sekarang, hanya 15k saja!", 15000),
    ("Peserta melakukan pembayaran sebesar Rp 35.000/naskah", 35000),
    ("Kontribusi peserta IDR 60.000 per orang", 60000),
    ("Investasi: 1,5 juta per tim", 1500000),
    ("HTM 20rb/karya", 20000),
    ("Biaya Rp150.000,- per tim", 150000),
    ("Hanya untuk mahasiswa aktif. Total hadiah Rp 5.000.000", None),  # "hanya" with no price
    ("Biaya pendaftaran? Cek guidebook. Hadiah juara 1 Rp 3.000.000", None),  # a prize, no fee
])
def test_fees_next_to_any_fee_word(text, amount):
    assert find_fee(text)[0] == amount


# -- is_competition ----------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    # a competition whose timeline holds a webinar and a seminar is still a competition
    ("Lomba infografis nasional 2027! Pendaftaran 1-10 Mei. Webinar pembekalan 12 Mei. Seminar "
     "dan awarding 30 Mei. Hadiah total jutaan rupiah.", True),
    ("Kongres pemuda nasional 2027 hadir kembali di Yogyakarta, bersama para pembicara hebat dan "
     "delegasi dari seluruh provinsi untuk berdiskusi tentang masa depan bangsa dan masyarakat", False),
    ("Kunjungan kampus: ayo jelajahi fakultas kedokteran bersama kakak tingkat, rasakan kuliah "
     "sehari dan kenali organisasi mahasiswa di kampus kami, kuota terbatas untuk siswa SMA", False),
    ("Catat tanggal merah dan libur panjang tahun depan di kalender kamu ya, biar liburan bareng "
     "keluarga nggak bentrok dengan jadwal sekolah dan kuliah", False),
    ("GIVEAWAY! Menangkan merchandise resmi olimpiade dan kompetisi internasional, cukup follow "
     "dan tag tiga teman kamu di kolom komentar", False),
    ("Bimbingan intensif persiapan olimpiade sains bersama para juara nasional", False),
])
def test_is_competition_weighs_signals_by_place(text, expected):
    assert extract_with_rules(text, D("2027-01-01")).is_competition is expected


def test_the_deciding_signals_are_kept_in_the_provenance():
    record = extract_with_rules("GIVEAWAY merchandise lomba coding, follow dan tag temanmu", D("2027-01-01"))
    assert record.is_competition is False
    why = record.extracted_from[COMPETITION_SIGNALS_KEY]
    assert "giveaway" in why and "lomba" in why


# -- bounded work ------------------------------------------------------------------------------
def test_extraction_reads_a_capped_text():
    head = "Lomba esai 2027. Pendaftaran: 1 - 20 Maret 2027. Daftar: bit.ly/esai27 "
    tail = "Link pendaftaran: bit.ly/terlambat " * 5000  # beyond the cap
    caption = head + "x " * EXTRACTION_TEXT_LIMIT + tail
    capped = text_for_extraction(caption)
    assert len(capped) <= EXTRACTION_TEXT_LIMIT
    assert capped.startswith(head)
    assert text_for_extraction(head) == head  # a normal caption is read whole
    record = extract_with_rules(capped, D("2027-02-20"))
    assert record.end_date == D("2027-03-20")
    assert record.registration_url == "https://bit.ly/esai27"
