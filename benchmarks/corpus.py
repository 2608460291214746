"""A deterministic generator of realistic RePEc records, for any N, in oai_dc and amf.

Record ``i`` is always the same: a journal article (55%), a working paper (40%) or a book or
chapter, with 1-5 authors, a 400-1,200 character abstract, keywords, JEL codes, identifiers
and a DOI for most articles; datestamps spread over 2013-2025 in record order (so date
windows see realistic batches). Sizes follow what RePEc serves: an oai_dc record is about
1.5 KB, an amf record about 2 KB.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from xml.sax.saxutils import escape

WORDS = [
    "market",
    "labor",
    "price",
    "policy",
    "growth",
    "trade",
    "firm",
    "wage",
    "tax",
    "bank",
    "credit",
    "risk",
    "capital",
    "demand",
    "supply",
    "inflation",
    "monetary",
    "fiscal",
    "household",
    "income",
    "inequality",
    "education",
    "health",
    "energy",
    "climate",
    "carbon",
    "innovation",
    "productivity",
    "networks",
    "auction",
    "contract",
    "game",
    "information",
    "welfare",
    "poverty",
    "migration",
    "housing",
    "finance",
    "equity",
    "bond",
    "exchange",
    "rate",
    "shock",
    "uncertainty",
    "regional",
    "urban",
    "agriculture",
    "development",
    "institutions",
    "political",
    "economy",
    "evidence",
    "model",
    "estimation",
    "panel",
    "causal",
    "structural",
    "dynamic",
    "general",
    "equilibrium",
    "heterogeneous",
    "agents",
]
GIVEN = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Marco",
    "Nadia",
    "Oscar",
]
FAMILY = [
    "Smith",
    "García",
    "Müller",
    "Rossi",
    "Kowalski",
    "Chen",
    "Tanaka",
    "Okafor",
    "Silva",
    "Novak",
    "Dubois",
    "Ivanova",
]
ARCHIVES = ("eee", "nbr", "spr", "wly", "oup", "cup", "sae", "pra", "cep", "ags", "bla", "aea")
START = date(2013, 9, 5)
SPAN_DAYS = 4400


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def record(i: int, n: int) -> dict[str, object]:
    rng = random.Random(i * 7919 + 13)
    archive = ARCHIVES[i % len(ARCHIVES)]
    kind = "article" if i % 20 < 11 else "paper" if i % 20 < 19 else "book"
    series = f"RePEc:{archive}:{'j' if kind == 'article' else 'w'}{i % 97:03d}"
    year = 1990 + i % 35
    if kind == "article":
        first = rng.randint(1, 900)
        handle = (
            f"{series}:v:{i % 60 + 1}:y:{year}:i:{i % 4 + 1}:p:{first}-{first + rng.randint(5, 40)}"
        )
    else:
        handle = f"{series}:{i}"
    stamp = START + timedelta(days=i * SPAN_DAYS // max(n, 1))
    authors = [f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}" for _ in range(rng.randint(1, 5))]
    return {
        "identifier": f"oai:{handle}",
        "handle": handle,
        "datestamp": stamp.isoformat(),
        "set": series,
        "kind": kind,
        "title": _words(rng, 6, 16).capitalize(),
        "authors": authors,
        "abstract": _words(rng, 60, 180).capitalize() + ".",
        "keywords": [_words(rng, 1, 3) for _ in range(rng.randint(2, 6))],
        "jel": [
            f"{'CDEFGHJLOQR'[rng.randrange(11)]}{rng.randint(1, 99):02d}"
            for _ in range(rng.randint(1, 4))
        ],  # fmt: skip
        "year": year,
        "doi": f"10.{1000 + i % 9000}/{archive}.{i}" if kind == "article" and i % 3 else None,
        "deleted": i % 997 == 0,
    }


def oai_dc(r: dict[str, object]) -> str:
    ids = [r["handle"], f"https://econpapers.repec.org/{r['handle']}"]
    if r["doi"]:
        ids.append(f"https://doi.org/{r['doi']}")
    parts = [f"<dc:title>{escape(str(r['title']))}</dc:title>"]
    parts += [f"<dc:creator>{escape(a)}</dc:creator>" for a in r["authors"]]  # type: ignore[attr-defined]
    parts += [f"<dc:subject>{escape(k)}</dc:subject>" for k in r["keywords"]]  # type: ignore[attr-defined]
    parts += [f"<dc:subject>{j}</dc:subject>" for j in r["jel"]]  # type: ignore[attr-defined]
    parts += [f"<dc:description>{escape(str(r['abstract']))}</dc:description>",
              f"<dc:date>{r['year']}</dc:date>",
              f"<dc:type>{'preprint' if r['kind'] == 'paper' else r['kind']}</dc:type>"]  # fmt: skip
    parts += [f"<dc:identifier>{escape(str(x))}</dc:identifier>" for x in ids]
    return (
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">' + "".join(parts) + "</oai_dc:dc>"
    )


def amf(r: dict[str, object]) -> str:
    people = "".join(
        f"<hasauthor><person><name>{escape(a)}</name><givenname>{escape(a.split()[0])}"
        f"</givenname><familyname>{escape(a.split()[-1])}</familyname></person></hasauthor>"
        for a in r["authors"]  # type: ignore[attr-defined]
    )
    serial = ""
    if r["kind"] == "article":
        serial = (f"<serial><journaltitle>Journal {escape(str(r['set']))}</journaltitle>"
                  f"<issuedate>{r['year']}</issuedate></serial>")  # fmt: skip
    doi = f"<doi>{r['doi']}</doi>" if r["doi"] else ""
    return (
        f'<amf xmlns="http://amf.openlib.org"><text id="{r["handle"]}">'
        f"<title>{escape(str(r['title']))}</title><abstract>{escape(str(r['abstract']))}</abstract>"
        f"<type>{'preprint' if r['kind'] == 'paper' else r['kind']}</type>{people}{serial}"
        f"<keywords>{escape('; '.join(r['keywords']))}</keywords>"  # type: ignore[arg-type]
        f"<classification>{'; '.join(r['jel'])}</classification>{doi}"  # type: ignore[arg-type]
        f"<file><url>https://econpapers.repec.org/{r['handle']}</url></file></text></amf>"
    )


def record_xml(i: int, n: int, prefix: str) -> str:
    r = record(i, n)
    status = ' status="deleted"' if r["deleted"] else ""
    header = (f"<header{status}><identifier>{r['identifier']}</identifier>"
              f"<datestamp>{r['datestamp']}</datestamp><setSpec>{r['set']}</setSpec></header>")  # fmt: skip
    if r["deleted"]:
        return f"<record>{header}</record>"
    body = oai_dc(r) if prefix == "oai_dc" else amf(r)
    return f"<record>{header}<metadata>{body}</metadata></record>"
