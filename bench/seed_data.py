"""Realistic generated customers, and loading them fast with COPY (bench and ``make seed``).

The shape of the data is what makes list queries fast or slow, so it follows
what a real customer base looks like rather than a uniform draw:

- countries are skewed (the US, Germany and the UK hold about 40 %, Iceland or
  Liechtenstein a handful) and each country's customers carry names of its own
  languages and scripts: German umlauts, French and Spanish accents, Polish,
  Turkish and Nordic letters, Greek, Cyrillic, Japanese, Chinese, Korean and
  Arabic. In byte order (the databases' ``C.UTF-8`` collation) the non-Latin
  names all sort after the Latin ones, so "Japanese customers by name" sits at
  one end of the name index;
- ``created_at`` spans three years with more sign-ups lately, and rows are
  written in that order, as a table that grows over time is; a few markets
  (Korea, the Emirates) opened half-way through;
- ``status`` depends on age (recent customers are mostly leads, old ones
  active or churned); segments and tags are skewed, a few tags are rare, and
  campaign tags exist only in their campaign's months.

:func:`generate_customers` yields rows shaped like the ``customers`` table;
:func:`load_customers` writes them with ``COPY``, with their ``customer.created``
outbox rows in the same transactions when asked.
"""

from __future__ import annotations

import bisect
import io
import itertools
import json
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2.extensions

from customer_service import events
from customer_service.store import OUTBOX_CHANNEL
from shared.events.envelope import Event

#: How far back ``created_at`` reaches.
HISTORY = timedelta(days=3 * 365)
#: Sign-ups grow over time: the share of customers older than a point is (its age)^GROWTH.
GROWTH = 1.6
#: Most tags one generated customer carries.
MAX_TAGS = 3

CUSTOMER_COPY_COLUMNS = (
    "id, name, email, phone, company, country, city, segment, status, tags, attributes,"
    " created_at, updated_at, version, deleted_at"
)


@dataclass(frozen=True)
class Language:
    """Names in one language: given names, family names (romanised twins for emails)."""

    given: Sequence[str]
    family: Sequence[str]
    #: Romanised spellings, index for index, when the names are not in Latin script.
    given_latin: Sequence[str] = ()
    family_latin: Sequence[str] = ()
    #: Family name first, as written in Japanese, Chinese and Korean.
    family_first: bool = False
    #: Joins family and given name (CJK names are often written without a space).
    separator: str = " "
    company_suffixes: Sequence[str] = ("Ltd",)


def _words(text: str, separator: str = " ") -> tuple[str, ...]:
    return tuple(text.split(separator))


ENGLISH = Language(
    given=_words(
        "James Mary Olivia Liam Emma Noah Ava William Sophia Oliver Charlotte Amelia Harry "
        "George Jack Isla Grace Ethan Chloe Daniel Ruby Thomas Megan Ryan Aoife Seán"
    ),
    family=_words(
        "Smith Johnson Williams Brown Jones Taylor Davies Wilson Evans Thomas Roberts "
        "Walker O'Brien Murphy Clarke Hughes Wright Green Baker Kelly Campbell MacDonald"
    ),
    company_suffixes=("Ltd", "Inc.", "LLC", "Group", "& Co."),
)
GERMAN = Language(
    given=_words(
        "Lukas Jonas Leon Finn Marie Sophie Hannah Jürgen Jörg Günther "
        "Björn Käthe Lena Mia Lea Maximilian Tobias Anja Uwe Dörte"
    ),
    family=_words(
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schäfer Koch Bauer "
        "Richter Krüger Hoffmann Schröder Groß Weiß Köhler Vogel Huber Gruber Brändli"
    ),
    company_suffixes=("GmbH", "AG", "KG", "& Söhne", "GmbH & Co. KG"),
)
FRENCH = Language(
    given=_words(
        "Léa Chloé Zoé Hélène Élodie Benoît François Jérôme Raphaël "
        "Gaël Noémie Amélie Louis Hugo Camille Thérèse Anaïs Loïc"
    ),
    family=_words(
        "Martin Bernard Dubois Thomas Robert Petit Durand Leroy Moreau "
        "Lefèvre Girard Bonnet Gauthier Fontaine Lemaître Chevalier Bérubé Côté Mercier"
    ),
    company_suffixes=("SA", "SARL", "SAS", "& Fils"),
)
SPANISH = Language(
    given=_words(
        "José María Sofía Lucía Martín Mateo Hugo Álvaro "
        "Iñigo Begoña Ramón Inés Jesús Valentina Camila Santiago Ximena"
    ),
    family=_words(
        "García Fernández González Rodríguez López Martínez Sánchez Pérez "
        "Gómez Muñoz Jiménez Núñez Peña Ibáñez Castillo Ortega"
    ),
    company_suffixes=("S.L.", "S.A.", "S.A. de C.V.", "y Asociados"),
)
ITALIAN = Language(
    given=_words(
        "Giuseppe Giovanni Francesca Chiara Alessandro Niccolò Lorenzo Giulia Matteo Aurora"
    ),
    family=_words(
        "Rossi,Russo,Ferrari,Esposito,Bianchi,Romano,Colombo,Ricci,Marino,Greco,De Luca,D'Angelo",
        ",",
    ),
    company_suffixes=("S.p.A.", "S.r.l."),
)
DUTCH = Language(
    given=_words("Daan Sem Lotte Sanne Bram Femke Thijs Anouk Jeroen Ilse Ruud"),
    family=_words(
        "de Jong,Jansen,de Vries,van den Berg,van Dijk,Bakker,Visser,Smit,Meijer,van der Linden",
        ",",
    ),
    company_suffixes=("B.V.", "N.V."),
)
NORDIC = Language(
    given=_words("Åsa Björn Sören Øyvind Åke Linnéa Maja Elsa Erik Lars Ingrid Sigríður Jón Aino"),
    family=_words(
        "Andersson Johansson Karlsson Nilsson Sørensen Jørgensen Håkansson "
        "Lindström Ödman Nyström Virtanen Jónsdóttir Hansen Ærenlund"
    ),
    company_suffixes=("AB", "AS", "A/S", "Oy", "ehf."),
)
POLISH = Language(
    given=_words("Zofia Łukasz Paweł Małgorzata Wojciech Agnieszka Józef Grażyna Jakub Ewa"),
    family=_words(
        "Nowak Kowalski Wiśniewski Wójcik Kowalczyk "
        "Kamiński Lewandowski Zieliński Woźniak Dąbrowski Szymańska"
    ),
    company_suffixes=("sp. z o.o.", "S.A."),
)
PORTUGUESE = Language(
    given=_words("João Gonçalo Inês Beatriz Luís Conceição Thiago Lúcia Mariana Vitória"),
    family=_words(
        "Silva Santos Ferreira Pereira Oliveira Costa Rodrigues Gonçalves Magalhães Araújo"
    ),
    company_suffixes=("Lda.", "Ltda.", "S.A."),
)
TURKISH = Language(
    given=_words("Ayşe Mehmet Çağla Şükrü İbrahim Gülşen Emre Zeynep Oğuz"),
    family=_words("Yılmaz Kaya Demir Öztürk Çelik Şahin Aydın Arslan Doğan"),  # noqa: RUF001
    company_suffixes=("A.Ş.", "Ltd. Şti."),
)
GREEK = Language(
    given=_words("Γιώργος Μαρία Δημήτρης Ελένη Νίκος Κατερίνα"),
    family=_words("Παπαδόπουλος Νικολάου Γεωργίου Οικονόμου Καραγιάννης Βλάχος"),
    given_latin=_words("giorgos maria dimitris eleni nikos katerina"),
    family_latin=_words("papadopoulos nikolaou georgiou oikonomou karagiannis vlachos"),
    company_suffixes=("Α.Ε.", "Ε.Π.Ε."),  # noqa: RUF001
)
UKRAINIAN = Language(
    given=_words("Олександр Олена Андрій Ірина Богдан Наталія Юрій"),
    family=_words("Шевченко Коваленко Бондаренко Ткаченко Кравченко Мельник Поліщук"),
    given_latin=_words("oleksandr olena andrii iryna bohdan nataliia yurii"),
    family_latin=_words("shevchenko kovalenko bondarenko tkachenko kravchenko melnyk polishchuk"),
    company_suffixes=("ТОВ", "ПП"),  # noqa: RUF001
)
JAPANESE = Language(
    given=_words("翔太 陽菜 蓮 結衣 さくら 大翔 美咲 ひなた 健一 由美子"),
    family=_words("佐藤 鈴木 高橋 田中 伊藤 渡辺 山本 中村 小林 加藤"),
    given_latin=_words("shota hina ren yui sakura hiroto misaki hinata kenichi yumiko"),
    family_latin=_words(
        "sato suzuki takahashi tanaka ito watanabe yamamoto nakamura kobayashi kato"
    ),
    family_first=True,
    company_suffixes=("株式会社", "合同会社"),
)
CHINESE = Language(
    given=_words("伟 娜 敏 洋 静 磊 芳 杰"),
    family=_words("王 李 张 刘 陈 杨 黄 赵"),
    given_latin=_words("wei na min yang jing lei fang jie"),
    family_latin=_words("wang li zhang liu chen yang huang zhao"),
    family_first=True,
    separator="",
    company_suffixes=("有限公司",),
)
KOREAN = Language(
    given=_words("민준 서연 지훈 수아 예준 하은 도윤"),
    family=_words("김 이 박 최 정 강 조"),
    given_latin=_words("minjun seoyeon jihun sua yejun haeun doyun"),
    family_latin=_words("kim lee park choi jung kang cho"),
    family_first=True,
    separator="",
    company_suffixes=("주식회사",),
)
ARABIC = Language(
    given=_words("محمد فاطمة أحمد مريم علي نور"),
    family=_words("العلي الحسن المنصور الشامي الخطيب"),
    given_latin=_words("mohammed fatima ahmed maryam ali nour"),
    family_latin=_words("alali alhassan almansour alshami alkhatib"),
    company_suffixes=("ذ.م.م",),
)
HINDI_ENGLISH = Language(
    given=_words("Aarav Priya Vivaan Ananya Arjun Diya Rohan Kavya Ishaan"),
    family=_words("Sharma Patel Singh Kumar Gupta Reddy Iyer Nair Banerjee"),
    company_suffixes=("Pvt. Ltd.", "Ltd"),
)


@dataclass(frozen=True)
class Country:
    """A country customers come from: its share, languages, cities and phone prefix."""

    code: str
    weight: float
    languages: Sequence[tuple[Language, float]]
    cities: Sequence[str]
    phone_prefix: str
    #: When sales started there, as a share of the history (0 = from the start).
    opened: float = 0.0


COUNTRIES: Sequence[Country] = (
    Country("US", 20, ((ENGLISH, 0.8), (SPANISH, 0.15), (CHINESE, 0.05)),
            ("New York", "San Francisco", "Austin", "Chicago", "Seattle", "Boston"), "+1"),
    Country("DE", 11, ((GERMAN, 0.92), (TURKISH, 0.08)),
            ("Berlin", "München", "Hamburg", "Köln", "Düsseldorf", "Frankfurt am Main"), "+49"),
    Country("GB", 9, ((ENGLISH, 0.95), (HINDI_ENGLISH, 0.05)),
            ("London", "Manchester", "Edinburgh", "Bristol", "Leeds"), "+44"),
    Country("FR", 7, ((FRENCH, 1.0),), ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes"), "+33"),
    Country("JP", 5, ((JAPANESE, 0.85), (ENGLISH, 0.15)),
            ("東京", "大阪", "横浜", "名古屋", "Tokyo", "Osaka"), "+81"),
    Country("ES", 4.5, ((SPANISH, 1.0),), ("Madrid", "Barcelona", "Sevilla", "A Coruña"), "+34"),
    Country("IT", 4, ((ITALIAN, 1.0),), ("Roma", "Milano", "Napoli", "Torino"), "+39"),
    Country("CA", 4, ((ENGLISH, 0.75), (FRENCH, 0.25)),
            ("Toronto", "Montréal", "Vancouver", "Québec"), "+1"),
    Country("IN", 3, ((HINDI_ENGLISH, 1.0),), ("Bengaluru", "Mumbai", "Delhi", "Pune"), "+91"),
    Country("NL", 3, ((DUTCH, 1.0),), ("Amsterdam", "Rotterdam", "Utrecht"), "+31"),
    Country("BR", 3, ((PORTUGUESE, 1.0),), ("São Paulo", "Rio de Janeiro", "Recife"), "+55"),
    Country("MX", 2.5, ((SPANISH, 1.0),), ("Ciudad de México", "Guadalajara", "Monterrey"), "+52"),
    Country("AU", 2.5, ((ENGLISH, 1.0),), ("Sydney", "Melbourne", "Brisbane"), "+61"),
    Country("PL", 2, ((POLISH, 1.0),), ("Warszawa", "Kraków", "Łódź", "Wrocław"), "+48"),
    Country("SE", 2, ((NORDIC, 1.0),), ("Stockholm", "Göteborg", "Malmö"), "+46"),
    Country("CH", 1.8, ((GERMAN, 0.65), (FRENCH, 0.3), (ITALIAN, 0.05)),
            ("Zürich", "Genève", "Basel", "Lausanne"), "+41"),
    Country("AT", 1.5, ((GERMAN, 1.0),), ("Wien", "Graz", "Linz", "Salzburg"), "+43"),
    Country("BE", 1.5, ((DUTCH, 0.55), (FRENCH, 0.45)), ("Bruxelles", "Antwerpen", "Gent"), "+32"),
    Country("KR", 1.5, ((KOREAN, 1.0),), ("서울", "부산", "Seoul"), "+82", opened=0.5),
    Country("CN", 1.5, ((CHINESE, 1.0),), ("上海", "北京", "深圳"), "+86"),
    Country("IE", 1, ((ENGLISH, 1.0),), ("Dublin", "Cork", "Galway"), "+353"),
    Country("PT", 1, ((PORTUGUESE, 1.0),), ("Lisboa", "Porto", "Braga"), "+351"),
    Country("DK", 1, ((NORDIC, 1.0),), ("København", "Aarhus", "Odense"), "+45"),
    Country("NO", 1, ((NORDIC, 1.0),), ("Oslo", "Bergen", "Trondheim"), "+47"),
    Country("TR", 0.8, ((TURKISH, 1.0),), ("İstanbul", "Ankara", "İzmir"), "+90"),
    Country("FI", 0.8, ((NORDIC, 1.0),), ("Helsinki", "Espoo", "Tampere"), "+358"),
    Country("AR", 0.8, ((SPANISH, 1.0),), ("Buenos Aires", "Córdoba", "Rosario"), "+54"),
    Country("AE", 0.6, ((ARABIC, 0.6), (ENGLISH, 0.2), (HINDI_ENGLISH, 0.2)),
            ("Dubai", "دبي", "Abu Dhabi"), "+971", opened=0.6),
    Country("GR", 0.6, ((GREEK, 1.0),), ("Αθήνα", "Θεσσαλονίκη", "Athens"), "+30"),
    Country("CO", 0.6, ((SPANISH, 1.0),), ("Bogotá", "Medellín", "Cali"), "+57"),
    Country("UA", 0.5, ((UKRAINIAN, 1.0),), ("Київ", "Львів", "Одеса"), "+380"),
    Country("EE", 0.05, ((NORDIC, 0.5), (UKRAINIAN, 0.5)), ("Tallinn", "Tartu"), "+372"),
    Country("LU", 0.05, ((FRENCH, 0.6), (GERMAN, 0.4)), ("Luxembourg", "Esch-sur-Alzette"), "+352"),
    Country("IS", 0.03, ((NORDIC, 1.0),), ("Reykjavík", "Akureyri"), "+354"),
    Country("MT", 0.03, ((ENGLISH, 0.7), (ITALIAN, 0.3)), ("Valletta", "Sliema"), "+356"),
    Country("LI", 0.01, ((GERMAN, 1.0),), ("Vaduz", "Schaan"), "+423"),
)  # fmt: skip

#: Segment -> share; ``None`` is a customer nobody has segmented yet.
SEGMENTS: Sequence[tuple[str | None, float]] = (
    ("smb", 0.55),
    ("mid-market", 0.22),
    ("enterprise", 0.08),
    (None, 0.145),
    ("public-sector", 0.005),
)
#: Tag -> probability that a customer carries it (before keeping at most ``MAX_TAGS``).
TAGS: Sequence[tuple[str, float]] = (
    ("newsletter", 0.25),
    ("trial", 0.12),
    ("onboarding", 0.08),
    ("webinar", 0.07),
    ("upsell", 0.06),
    ("mobile-app", 0.06),
    ("churn-risk", 0.05),
    ("event-lead", 0.05),
    ("beta", 0.04),
    ("referral", 0.04),
    ("nps-promoter", 0.04),
    ("vip", 0.03),
    ("integration-api", 0.03),
    ("partner", 0.02),
    ("support-priority", 0.02),
    ("invoice-overdue", 0.015),
    ("nps-detractor", 0.015),
    ("edu", 0.01),
    ("enterprise-pilot", 0.008),
    ("nonprofit", 0.005),
    ("reseller", 0.003),
    ("government", 0.003),
    ("case-study", 0.001),
    ("gdpr-request", 0.0005),
    ("press", 0.0002),
    ("advisory-board", 0.0002),
    ("investor", 0.0001),
)
#: Campaign tags: (tag, first day, last day as a share of the history, 0 = oldest), probability.
CAMPAIGNS: Sequence[tuple[str, float, float, float]] = (
    ("conference-2023", 0.05, 0.12, 0.30),
    ("black-friday", 0.55, 0.57, 0.50),
    ("summer-sale", 0.85, 0.92, 0.35),
)
ATTRIBUTE_SOURCES = ("web", "import", "referral", "event", "partner", "sales")
COMPANY_WORDS = _words(
    "Nordlicht Acme Blue Ocean Summit Delta Prime Sonnen Étoile Aurora "
    "Atlas Zenit Horizon Alpen Kirschblüte Meridian Sakura Polaris Vértice Łąka"
)


class _Weighted:
    """Draws values by weight (cumulative weights computed once: this runs a million times)."""

    def __init__(self, choices: Sequence[tuple[Any, float]]) -> None:
        self._values = [value for value, _ in choices]
        self._cumulative = list(itertools.accumulate(weight for _, weight in choices))

    def draw(self, rng: random.Random) -> Any:
        return self._values[bisect.bisect(self._cumulative, rng.random() * self._cumulative[-1])]


_COUNTRY_DRAW = _Weighted([(country, country.weight) for country in COUNTRIES])
_LANGUAGE_DRAWS = {country.code: _Weighted(country.languages) for country in COUNTRIES}
_SEGMENT_DRAW = _Weighted(SEGMENTS)


def _name(rng: random.Random, language: Language) -> tuple[str, str]:
    """A person's name as written, and a romanised ``given.family`` for their email."""
    given_index = rng.randrange(len(language.given))
    family_index = rng.randrange(len(language.family))
    given, family = language.given[given_index], language.family[family_index]
    if language.family_first:
        written = f"{family}{language.separator}{given}"
    else:
        written = f"{given} {family}"
    latin_given = language.given_latin[given_index] if language.given_latin else given
    latin_family = language.family_latin[family_index] if language.family_latin else family
    return written, _email_part(f"{latin_given}.{latin_family}")


_EMAIL_LETTERS = str.maketrans(
    "äöüßàâçéèêëîïôûùüÿñáíóúãõåøæłśźżćńęąğışİ",
    "aousaaceeeeiiouuuynaiouaoaoalszzcneagisi",
)


def _email_part(text: str) -> str:
    ascii_text = text.lower().translate(_EMAIL_LETTERS)
    return "".join(ch for ch in ascii_text if ch.isascii() and (ch.isalnum() or ch == "."))


def _tags(rng: random.Random, age: float) -> list[str]:
    tags = [tag for tag, chance in TAGS if rng.random() < chance]
    tags += [
        tag
        for tag, first, last, chance in CAMPAIGNS
        if first <= 1 - age <= last and rng.random() < chance
    ]
    if len(tags) > MAX_TAGS:
        tags = rng.sample(tags, MAX_TAGS)
    return tags


def _status(rng: random.Random, age: float) -> str:
    # age: 0 = signed up just now, 1 = three years ago.
    lead = 0.72 - 0.5 * age
    churned = 0.03 + 0.27 * age
    roll = rng.random()
    return "lead" if roll < lead else "churned" if roll < lead + churned else "active"


def _phone(rng: random.Random, country: Country) -> str:
    return f"{country.phone_prefix} {rng.randint(20, 99)} {rng.randint(1000000, 9999999)}"


def _company(rng: random.Random, language: Language, family_name: str) -> str:
    base = rng.choice((rng.choice(COMPANY_WORDS), family_name))
    return f"{base} {rng.choice(language.company_suffixes)}"


def generate_customers(
    count: int,
    *,
    seed: int = 1,
    until: datetime | None = None,
    email_tag: str = "",
    deleted_share: float = 0.0,
) -> Iterator[dict[str, Any]]:
    """``count`` customers as ``customers`` rows, oldest first, all different emails.

    The same ``seed`` and ``email_tag`` give the same customers, ids too. The tag
    goes into every email and picks the ids, so loads with different tags into one
    database never collide. ``deleted_share`` of them come soft-deleted.
    """
    rng = random.Random(seed)
    id_rng = random.Random(f"{seed}:{email_tag}")
    end = until or datetime.now(UTC)
    start = end - HISTORY
    for number in range(count):
        # Position in time grows like number^(1/GROWTH): denser sign-ups lately.
        position = ((number + rng.random()) / max(count, 1)) ** (1 / GROWTH)
        created = start + HISTORY * position
        age = 1 - position
        country: Country = _COUNTRY_DRAW.draw(rng)
        while country.opened > position:
            country = _COUNTRY_DRAW.draw(rng)
        language: Language = _LANGUAGE_DRAWS[country.code].draw(rng)
        name, email_name = _name(rng, language)
        family_name = name.split(" ")[-1] if " " in name else name
        domain = rng.choice(("example.com", "example.net", "example.org"))
        customer_id = uuid.UUID(int=id_rng.getrandbits(128), version=4)
        deleted = rng.random() < deleted_share
        yield {
            "id": customer_id,
            "name": name,
            "email": f"{email_name}.{email_tag}{number}@{domain}",
            "phone": _phone(rng, country) if rng.random() < 0.6 else None,
            "company": _company(rng, language, family_name) if rng.random() < 0.7 else None,
            "country": country.code if rng.random() < 0.97 else None,
            "city": rng.choice(country.cities) if rng.random() < 0.8 else None,
            "segment": _SEGMENT_DRAW.draw(rng),
            "status": _status(rng, age),
            "tags": _tags(rng, age),
            "attributes": {
                "source": rng.choice(ATTRIBUTE_SOURCES),
                "score": rng.randint(0, 100),
            },
            "created_at": created,
            "updated_at": created,
            "version": 1,
            "deleted_at": created + timedelta(days=1) if deleted else None,
        }


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, list):
        text = "{" + ",".join(_array_element(item) for item in value) + "}"
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _array_element(item: str) -> str:
    return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _copy(cursor: Any, table_and_columns: str, rows: Iterable[Sequence[Any]]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_copy_text(value) for value in row))
        buffer.write("\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table_and_columns} FROM STDIN", buffer)


def copy_customers(cursor: Any, customers: Sequence[dict[str, Any]]) -> None:
    """Write ``customers`` (rows from :func:`generate_customers`) with one ``COPY``."""
    columns = [column.strip() for column in CUSTOMER_COPY_COLUMNS.split(",")]
    _copy(
        cursor,
        f"customers ({CUSTOMER_COPY_COLUMNS})",
        ([customer[column] for column in columns] for customer in customers),
    )


def created_event(customer: dict[str, Any]) -> Event:
    """The ``customer.created`` event the service writes for this row."""
    return events.customer_event(events.CREATED, customer)


def copy_outbox(cursor: Any, customers: Sequence[dict[str, Any]]) -> None:
    """Write one ``customer.created`` outbox row per customer with one ``COPY``."""
    rows = []
    for customer in customers:
        event = created_event(customer)
        rows.append((event.id, event.type, event.subject, event.to_document()))
    _copy(cursor, "outbox (event_id, event_type, subject, envelope)", rows)


def load_customers(
    connection: psycopg2.extensions.connection,
    customers: Iterable[dict[str, Any]],
    *,
    batch: int = 10_000,
    outbox: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write ``customers`` in transactions of ``batch``; return how many were written.

    With ``outbox``, each transaction also writes every customer's ``customer.created``
    event and notifies the relay, as the service does for each create.
    """
    written = 0
    rows = iter(customers)
    while chunk := list(itertools.islice(rows, batch)):
        with connection, connection.cursor() as cursor:
            copy_customers(cursor, chunk)
            if outbox:
                copy_outbox(cursor, chunk)
                cursor.execute("SELECT pg_notify(%s, '')", [OUTBOX_CHANNEL])
        written += len(chunk)
        if progress is not None:
            progress(written)
    return written
