"""The Jinja components render the view models: crash line marked, library runs folded, hostile text escaped."""

from __future__ import annotations

import re

import pytest

from faultline.web import events, grouping, stacktrace
from faultline.web.pager import Pager
from faultline.web.templating import Templates
from tests.web.test_components import CHAIN, CONTEXTS


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates(public_url="http://faultline.test")


def render(templates: Templates, source: str, **context: object) -> str:
    template = templates.env.from_string('{% import "components.html" as c %}' + source)
    return template.render(context)


def test_stacktrace_component(templates: Templates) -> None:
    chain = stacktrace.build_chain(CHAIN, CONTEXTS)
    html = render(templates, "{{ c.stacktrace(chain) }}", chain=chain)
    assert html.index("RuntimeError") < html.index("caused by") < html.index("ValueError")
    plain = re.sub(r'<span class="tk-[a-z]">([^<]*)</span>', r"\1", html)  # syntax highlighting (web/highlight.py)
    crash = re.findall(r'<span class="ln crash" aria-current="true"><span class="no">(\d+)</span>([^<]*)</span>', plain)
    assert crash == [("13", "        raise RuntimeError(&#34;could not charge&#34;) from exc")]
    libs = re.search(r'<li class="libs"><details><summary>(.*?)</summary>', html)
    assert libs and libs.group(1).startswith("2 library frames")
    assert html.count("<details open>") == 2  # the top in-app frame of each exception
    assert 'id="frame-charge-hash-0"' in html


def test_unmapped_frames_and_hostile_text_are_escaped(templates: Templates) -> None:
    hostile = [
        {
            "type": "<img src=x onerror=alert(1)>",
            "value": "</pre><script>alert(2)</script>",
            "mechanism": {"handled": False},
            "stacktrace": {
                "type": "resolved",
                "frames": [
                    {
                        "raw_id": "x/0",
                        "mangled_name": "<b>eF</b>",
                        "resolved": False,
                        "resolve_failure": "No sourcemap uploaded for chunk id: <i>c1</i>",
                        "source": "https://cdn.example/app.js",
                        "line": 1,
                        "column": 2,
                    }
                ],
            },
        }
    ]
    html = render(templates, "{{ c.stacktrace(chain) }}", chain=stacktrace.build_chain(hostile))
    assert "<script>" not in html and "<img" not in html and "<b>" not in html and "<i>" not in html
    assert "Why not mapped:</strong> No sourcemap uploaded for chunk id: &lt;i&gt;c1&lt;/i&gt;" in html
    assert '<span class="badge warn">not mapped</span>' in html and "unhandled" in html


def test_grouping_component_links_frames(templates: Templates) -> None:
    chain = stacktrace.build_chain(CHAIN, CONTEXTS)
    record = [
        {"type": "exception", "id": "id-RuntimeError", "pieces": ["Exception Type"]},
        {"type": "frame", "raw_id": "charge-hash/0", "pieces": ["Resolved function name"]},
    ]
    html = render(templates, "{{ c.grouping(e, '/rules') }}", e=grouping.explain(record, chain))
    assert "Grouped by</strong> type RuntimeError + 1 frame (charge)" in html
    assert '<a href="#frame-charge-hash-0">charge (myapp/billing.py)</a>' in html
    custom = render(
        templates, "{{ c.grouping(e, '/rules') }}", e=grouping.explain([{"type": "custom", "rule_id": "r1"}], [])
    )
    assert 'href="/rules#rule-r1"' in custom


def test_event_summary_and_properties(templates: Templates) -> None:
    props = {
        "$lib": "web",
        "$lib_version": "1.449.2",
        "$current_url": "http://shop.test/cart",
        "$browser": "Chrome",
        "$browser_version": 156,
        "$os": "Linux",
        "$exception_list": [{"type": "X"}],
        "nested": {"a": [1, 2]},
        "long": "y" * 5000,
    }
    summary = events.summarize(props, distinct_id="user-1")
    assert (summary.lib, summary.browser, summary.os, summary.distinct_id) == (
        "web 1.449.2",
        "Chrome 156",
        "Linux",
        "user-1",
    )
    rows = dict(events.property_rows(props))
    assert "$exception_list" not in rows and rows["nested"] == '{"a":[1,2]}'
    assert rows["long"].endswith("(3000 more characters)")
    html = render(
        templates, "{{ c.event_facts(s) }}{{ c.properties_table(r) }}", s=summary, r=events.property_rows(props)
    )
    assert "<code>http://shop.test/cart</code>" in html and "<code>$browser</code>" in html
    assert events.summarize("junk").lib is None and events.property_rows(None) == []


def test_pager_links_keep_filters() -> None:
    pager = Pager.from_query({"status": "active", "q": "a b", "offset": "50"}, total=120, path="/p/1/issues")
    assert (pager.first_item, pager.last_item, pager.pages) == (51, 100, 3)
    assert pager.previous_url == "/p/1/issues?status=active&q=a+b"
    assert pager.next_url == "/p/1/issues?status=active&q=a+b&offset=100"
    last = Pager.from_query({"offset": "100"}, total=120, path="/x")
    assert last.next_url is None and last.last_item == 120
    clamped = Pager.from_query({"limit": "99999", "offset": "-5"}, total=0, path="/x")
    assert (clamped.limit, clamped.offset, clamped.first_item, clamped.pages) == (200, 0, 0, 1)
    assert Pager.window({"limit": "abc", "offset": "1e9"}) == (50, 0)
