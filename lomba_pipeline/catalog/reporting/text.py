"""The nightly catalog report as people read it: a markdown table and the WhatsApp text."""

from __future__ import annotations

import dagster as dg

from lomba_pipeline.catalog.reporting.scrape_history import SourceDay


def markdown_sources(sources: dict[str, SourceDay]) -> dg.MetadataValue:
    lines = ["| source | runs | found | new | errors | first error |", "|---|---:|---:|---:|---:|---|"]
    for key in sorted(sources):
        s = sources[key]
        first = (s.errors[0][:80] if s.errors else "").replace("|", "/")
        lines.append(f"| {key} | {s.runs} | {s.found} | {s.new} | {len(s.errors)} | {first} |")
    return dg.MetadataValue.md("\n".join(lines))


def summary_text(day: str, sources: dict[str, SourceDay], numbers: dict) -> str:
    """The admin group's message, in Bahasa Indonesia."""
    status = numbers["extraction_status"]
    lines = [f"Laporan katalog lomba {day}", "", "Sumber:"]
    if not sources:
        lines.append("- tidak ada scrape hari ini")
    for key in sorted(sources):
        s = sources[key]
        error = f", {len(s.errors)} galat" if s.errors else ""
        lines.append(f"- {key}: {s.found} ditemukan, {s.new} baru{error}")
    lines += [
        "",
        f"Rekaman baru: {numbers['new_records']}; diekstrak: {numbers['extracted']} "
        f"(lengkap {status.get('done', 0)}, sebagian {status.get('partial', 0)}, "
        f"gagal {status.get('failed', 0)})",
    ]
    calls = ", ".join(f"{p['provider']} {p['calls']} (gagal {p['failed']})"
                      for p in numbers["providers"]) or "tidak ada"
    cost = sum(p["cost_usd"] for p in numbers["providers"])
    lines += [
        f"Panggilan AI: {calls}; perkiraan biaya ${cost:.4f}",
        f"Menunggu review: {numbers['waiting_for_review']}; disetujui hari ini: "
        f"{numbers['approved']}; dikirim ke saluran: {numbers['broadcast']}; "
        f"pasangan duplikat baru: {numbers['duplicate_pairs_found']}",
    ]
    if numbers["failures"]:
        lines += ["", "Kegagalan:"]
        lines += [f"- {f['what']}: {f['count']}× — {f['first_error'][:120]}"
                  for f in numbers["failures"]]
    return "\n".join(lines)
