"""Local stand-ins for the pulled services, answering in each service's exact format.

One pytest-httpserver on 127.0.0.1 serves:

* `/feeds/markets.rss`: an RSS 2.0 feed (ETag, If-None-Match -> 304), in two editions: night 2's
  adds an item and rewrites one (same guid, new text);
* `/gdeltv2/<YYYYMMDDHHMMSS>.gkg.csv.zip`: GDELT GKG 2.1 files (a zip holding one tab-separated
  member of 27 columns) for the slots in `GKG_RECORDS`, 404 for every other slot, like GDELT;
* `/v8/finance/chart/<TICKER>`: Yahoo's chart JSON, cut from the bundled sample CSVs to the
  request's period1/period2 (so an incremental request gets only its range);
* `/files/company_tickers_exchange.json`: SEC's file (the bundled snapshot), with an ETag.

Failures are switched on per path with `fail(path, kind)`: 500, 429 with Retry-After, a slow
answer (timeout), an HTML error page, a truncated zip, malformed XML, an entity bomb, a redirect
loop.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from werkzeug import Request, Response

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PRICES = REPO_ROOT / "samples" / "prices"
SEC_SNAPSHOT = REPO_ROOT / "samples" / "sec" / "company_tickers_exchange.json"
NEW_YORK = ZoneInfo("America/New_York")
GKG_COLUMNS = 27


def _item(guid: str, day: str, title: str, text: str) -> dict[str, str]:
    return {"guid": guid, "date": day, "title": title, "text": text}


# Night 1's feed; night 2 adds one item and rewrites the IBM one (same guid, new text).
FEED_NIGHT_1 = [
    _item("https://news.example.com/2012/10/16/ibm-q3", "Tue, 16 Oct 2012 20:15:00 GMT",
          "IBM third-quarter revenue falls short",
          "International Business Machines Corp. (NYSE: IBM) reported third-quarter revenue "
          "below analysts' estimates; shares fell in after-hours trading."),
    _item("https://news.example.com/2012/10/18/google-early-earnings",
          "Thu, 18 Oct 2012 17:40:00 GMT",
          "Google earnings released early by mistake",
          "Google Inc. said its printer filed the quarterly earnings report early. $GOOG "
          "shares were halted after falling 9% on the Nasdaq."),
    _item("https://news.example.com/2012/10/17/apple-harvest",
          "Wed, 17 Oct 2012 09:00:00 GMT",
          "Apple harvest in Washington state is the largest on record",
          "Growers expect a record apple crop this autumn as orchards recover from frost."),
]
FEED_NIGHT_2 = [
    _item("https://news.example.com/2012/10/16/ibm-q3", "Tue, 16 Oct 2012 20:15:00 GMT",
          "IBM third-quarter revenue falls short; profit beats",
          "International Business Machines Corp. (NYSE: IBM) reported third-quarter revenue "
          "below analysts' estimates but earnings per share above them; shares fell 5%."),
    *FEED_NIGHT_1[1:],
    _item("https://news.example.com/2012/10/19/microsoft-q1",
          "Fri, 19 Oct 2012 00:05:00 GMT",
          "Microsoft profit falls ahead of Windows 8 launch",
          "Microsoft Corporation said first-quarter profit fell 22% as PC sales slowed; $MSFT "
          "shares were little changed."),
]

# GKG records by 15-minute slot (YYYYMMDDHHMMSS): (source, url, organisations, persons, themes, tone)
GKG_RECORDS: dict[str, list[tuple[str, str, str, str, str, str]]] = {
    "20121016201500": [
        ("reuters.com", "https://www.reuters.com/article/ibm-results-idUSL1E8LGKZ220121016",
         "International Business Machines,12;IBM,80;", "Mark Loughridge,140;",
         "ECON_EARNINGSREPORT,30;TAX_FNCACT_EXECUTIVES,150;", "-3.2,1.5,4.7,6.2,21.0,0.8,512"),
        ("bbc.co.uk", "https://www.bbc.co.uk/news/world-19960000",
         "United Nations,10;", "Ban Ki-moon,30;", "GENERAL_GOVERNMENT,5;", "0.5,2,1.5,3.5,20,1,300"),
    ],
    "20121018174500": [
        ("cnbc.com", "https://www.cnbc.com/id/49465000",
         "Google Inc,20;Nasdaq,90;RR Donnelley,160;", "Larry Page,200;",
         "ECON_EARNINGSREPORT,40;ECON_STOCKMARKET,95;", "-5.1,1.0,6.1,7.1,18.0,0.2,640"),
    ],
    "20121019001500": [
        ("wsj.com", "https://www.wsj.com/articles/microsoft-q1-2012",
         "Microsoft Corporation,5;", "Steve Ballmer,70;",
         "ECON_EARNINGSREPORT,15;", "-1.2,2.0,3.2,5.2,22.0,0.4,480"),
    ],
}


@dataclass
class RecordedServices:
    """The handlers of one test's server; `night` picks the feed edition."""

    night: int = 1
    failures: dict[str, str] = field(default_factory=dict)  # path -> kind
    readjusted: set[str] = field(default_factory=set)  # tickers whose past was re-adjusted

    def install(self, server) -> None:
        server.expect_request("/feeds/markets.rss").respond_with_handler(self._feed)
        server.expect_request("/feeds/other.rss").respond_with_handler(self._feed)
        server.expect_request(
            re.compile(r"^/gdeltv2/\d{14}\.gkg\.csv\.zip$")
        ).respond_with_handler(self._gkg)
        server.expect_request(
            re.compile(r"^/v8/finance/chart/.+$")
        ).respond_with_handler(self._chart)
        server.expect_request("/files/company_tickers_exchange.json").respond_with_handler(self._sec)
        server.expect_request("/loop/a").respond_with_handler(
            lambda _r: Response(status=302, headers={"Location": "/loop/b"}))
        server.expect_request("/loop/b").respond_with_handler(
            lambda _r: Response(status=302, headers={"Location": "/loop/a"}))

    def fail(self, path: str, kind: str) -> None:
        self.failures[path] = kind

    # --- failures -------------------------------------------------------------------------
    def _failure(self, request: Request) -> Response | None:
        kind = self.failures.get(request.path)
        if kind is None:
            return None
        if kind == "500":
            return Response("Internal Server Error", status=500)
        if kind == "429":
            return Response("Too Many Requests", status=429, headers={"Retry-After": "1"})
        if kind == "slow":
            time.sleep(3)
            return Response("late", status=200)
        if kind == "html":
            return Response("<!DOCTYPE html><html><head><title>Service Unavailable - Zscaler"
                            "</title></head><body>blocked</body></html>", status=200,
                            content_type="text/html")
        if kind == "malformed_xml":
            # cut off mid-document, an unescaped '&': no item can be recovered from it
            return Response("<?xml version='1.0'?><rss version='2.0'><channel><title>Markets & "
                            "more</title><description>cut off", content_type="application/rss+xml")
        if kind == "bomb":
            return Response(BILLION_LAUGHS, content_type="application/rss+xml")
        if kind == "redirect_loop":
            return Response(status=302, headers={"Location": "/loop/a"})
        if kind == "truncated_zip":
            body = self._gkg_zip(request.path.rsplit("/", 1)[1][:14]) or b""
            return Response(body[: len(body) // 2], content_type="application/zip")
        raise ValueError(kind)

    # --- services -------------------------------------------------------------------------
    def _feed(self, request: Request) -> Response:
        if (failure := self._failure(request)) is not None:
            return failure
        body = rss(FEED_NIGHT_1 if self.night == 1 else FEED_NIGHT_2).encode()
        return _with_etag(request, body, "application/rss+xml; charset=utf-8")

    def _gkg(self, request: Request) -> Response:
        if (failure := self._failure(request)) is not None:
            return failure
        body = self._gkg_zip(request.path.rsplit("/", 1)[1][:14])
        if body is None:
            return Response("Not Found", status=404)
        return Response(body, content_type="application/zip")

    def _gkg_zip(self, slot: str) -> bytes | None:
        records = GKG_RECORDS.get(slot)
        if records is None:
            return None
        lines = []
        for index, (source, url, organisations, persons, themes, tone) in enumerate(records):
            row = [""] * GKG_COLUMNS
            row[0] = f"{slot}-{index}"
            row[1] = slot
            row[2] = "1"
            row[3] = source
            row[4] = url
            row[7] = ";".join(t.split(",")[0] for t in themes.split(";") if t) + ";"
            row[8] = themes
            row[11] = ";".join(p.split(",")[0].lower() for p in persons.split(";") if p) + ";"
            row[12] = persons
            row[13] = ";".join(o.split(",")[0].lower() for o in organisations.split(";") if o) + ";"
            row[14] = organisations
            row[15] = tone
            lines.append("\t".join(row))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            info = zipfile.ZipInfo(f"{slot}.gkg.csv", date_time=(2012, 1, 1, 0, 0, 0))
            archive.writestr(info, "\n".join(lines) + "\n")
        return buffer.getvalue()

    def _chart(self, request: Request) -> Response:
        if (failure := self._failure(request)) is not None:
            return failure
        ticker = request.path.rsplit("/", 1)[1]
        first = datetime.fromtimestamp(int(request.args["period1"]), UTC).date()
        last = datetime.fromtimestamp(int(request.args["period2"]), UTC).date()
        rows = [row for row in sample_bars(ticker) if first <= row["date"] < last]
        if not rows:
            body = {"chart": {"result": None, "error": {
                "code": "Not Found", "description": "No data found, symbol may be delisted"}}}
            return Response(json.dumps(body), status=404, content_type="application/json")
        scale = 0.5 if ticker in self.readjusted else 1.0  # a 2:1 split announced since
        return Response(json.dumps(chart_json(ticker, rows, scale)),
                        content_type="application/json")

    def _sec(self, request: Request) -> Response:
        if (failure := self._failure(request)) is not None:
            return failure
        return _with_etag(request, SEC_SNAPSHOT.read_bytes(), "application/json")


def _with_etag(request: Request, body: bytes, content_type: str) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    if request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers={"ETag": etag})
    return Response(body, content_type=content_type, headers={"ETag": etag})


def rss(items: list[dict[str, str]]) -> str:
    entries = "".join(
        f"""
    <item>
      <title>{item['title']}</title>
      <link>{item['guid']}</link>
      <guid isPermaLink="true">{item['guid']}</guid>
      <pubDate>{item['date']}</pubDate>
      <description><![CDATA[<p>{item['text']}</p>]]></description>
    </item>"""
        for item in items
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Example Markets News</title>
    <link>https://news.example.com/</link>
    <description>Company news</description>{entries}
  </channel>
</rss>
"""


def sample_bars(ticker: str) -> list[dict]:
    """The bundled sample CSV of `ticker` (^GSPC is GSPC.csv)."""
    path = SAMPLE_PRICES / f"{ticker.lstrip('^')}.csv"
    if not path.exists():
        return []
    with path.open(newline="") as file:
        return [
            {"date": date.fromisoformat(row["Date"]), **{k: float(row[k]) for k in
             ("Open", "High", "Low", "Close", "Adj Close", "Volume")}}
            for row in csv.DictReader(file)
        ]


def chart_json(ticker: str, rows: list[dict], adjustment: float = 1.0) -> dict:
    """Yahoo's /v8/finance/chart answer for daily bars (timestamps at the 09:30 New York open)."""
    stamps = [
        int(datetime.combine(row["date"], clock_time(9, 30), NEW_YORK).timestamp()) for row in rows
    ]
    return {"chart": {"result": [{
        "meta": {"currency": "USD", "symbol": ticker, "exchangeName": "NMS",
                 "instrumentType": "EQUITY", "firstTradeDate": stamps[0],
                 "regularMarketTime": stamps[-1], "gmtoffset": -14400, "timezone": "EDT",
                 "exchangeTimezoneName": "America/New_York", "dataGranularity": "1d",
                 "range": "", "validRanges": ["1d", "5d", "1mo", "max"]},
        "timestamp": stamps,
        "events": {},
        "indicators": {
            "quote": [{key.lower(): [row[key] for row in rows]
                       for key in ("Open", "High", "Low", "Close", "Volume")}],
            "adjclose": [{"adjclose": [row["Adj Close"] * adjustment for row in rows]}],
        },
    }], "error": None}}


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title></channel></rss>
"""
