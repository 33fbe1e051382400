#!/usr/bin/env python3
"""Tap to next step on an emulated slow 4G phone: requests per answer and median time, JavaScript on and off.

Usage: .venv/bin/python scripts/bench_taps.py [--rounds 3]

Starts gunicorn (gunicorn.conf.py, a temporary database, the real content/) on a free 127.0.0.1 port and
walks the journey in Chromium at 390x844 with the network throttled through the DevTools protocol
(Network.emulateNetworkConditions: 150 ms round trip, 1.6 Mbps down, 750 kbps up, cache on). For every
answered step it counts every request the browser made for the tap (Playwright's request events, from the tap
until the next tap, favicon and cache hits included: Chromium asked for a linked icon after each htmx pushState,
from its cache, so the server never saw it), the requests that reached the server (the app logs one line each), and
times the tap's click event to the next step's heading in the page (JavaScript on) or to the new document's
DOMContentLoaded, whose navigation starts with the POST (JavaScript off).
Goal (issue 9 B): 1 request per answer with JavaScript, median at most 250 ms.
"""
import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import start_gunicorn  # noqa: E402  (scripts/ is on the path when run)
from loopback import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SLOW_4G = {"offline": False, "latency": 150, "downloadThroughput": 1_600_000 / 8, "uploadThroughput": 750_000 / 8}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
# A typical path: no warning signs ("None of these" on each screen), a fusion, one box ticked, no hardware problem,
# one thing that matters, and yes to the SURE questions.
PLAN = {"surgery": "fusion", "how_long": "6_to_24_months", "told": ["technical_success"], "hardware_problem": "no",
        "tried": ["opioids"], "values": ["avoid_operation"], "sure_sure": "yes", "sure_understand": "yes",
        "sure_values": "yes", "sure_support": "yes"}


def answer(page):
    for name in page.eval_on_selector_all(
        "form.step-form input[type=radio], form.step-form input[type=checkbox]",
        "els => [...new Set(els.map(e => e.name))]",
    ):
        for box in page.locator(f"input[name={name}]").all():
            value, wanted = box.get_attribute("value"), PLAN.get(name, ["none"])  # warning signs: "None of these"
            if box.get_attribute("type") == "checkbox":
                box.set_checked(value in wanted)
            elif value == wanted:
                box.check()


def walk(browser, base, server_log, js, verbose=False):
    """[(step, requests the browser made, requests that reached the server, milliseconds)] for each answered step
    of one walk to the summary."""
    context = browser.new_context(java_script_enabled=js, **PHONE)
    asked = []  # every request the browser makes, from its cache or not (data: URLs are not requests)
    context.on("request", lambda request: asked.append(request.url))
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_4G)
    page.goto(base + "/")
    page.wait_for_load_state("load")
    taps = []

    def count_since(tap):
        """Close the last tap's count: what the browser asked for and what reached the server since it."""
        step, asked_before, served_before, elapsed = tap
        with server_log.open(encoding="utf-8") as lines:
            lines.seek(served_before)
            served = re.findall(r"method=(\w+) route=(\S+) status=(\d+)", lines.read())
        if verbose:
            print("     ", step, asked[asked_before:], served)
        return step, len(asked) - asked_before, len(served), elapsed

    open_tap = None
    for _ in range(20):
        if page.url.endswith("/journey/summary"):
            break
        answer(page)
        if open_tap:
            taps.append(count_since(open_tap))
        title = page.inner_text("#step-title")
        before = page.url
        served_before, asked_before = server_log.stat().st_size, len(asked)
        if js:
            # Timed inside the page: from the tap's click event to the next step's heading in the document.
            page.evaluate("""() => {
              window.__tapAt = null; window.__shownAt = null;
              document.addEventListener('click', () => { window.__tapAt = performance.now(); }, {capture: true, once: true});
              new MutationObserver((changes, observer) => {
                if (document.getElementById('step-title')) { window.__shownAt = performance.now(); observer.disconnect(); }
              }).observe(document.getElementById('content'), {childList: true});
            }""")
        page.locator("form.step-form button[type=submit]").tap()
        page.wait_for_function(
            "([u, t]) => location.href !== u && document.getElementById('step-title') &&"
            " document.getElementById('step-title').textContent !== t", arg=[before, title], polling="raf")
        page.wait_for_load_state("load")
        if js:
            elapsed = page.evaluate("window.__shownAt - window.__tapAt")
        else:
            # A new document: its navigation started with the form's POST (the 303 is part of the same navigation).
            elapsed = page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
        open_tap = (before.rsplit("/", 1)[-1] or "start", asked_before, served_before, elapsed)
    page.wait_for_timeout(1000)  # a late request of the last tap (an icon) lands in its count
    taps.append(count_since(open_tap))
    context.close()
    return taps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="walks per mode (default 3)")
    parser.add_argument("--verbose", action="store_true", help="print every tap")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server, log = start_gunicorn(Path(tmp), ROOT / "content", port)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-quic"])
                results = {}
                for js in (True, False):
                    taps = []
                    for _ in range(args.rounds):
                        taps += walk(browser, f"http://127.0.0.1:{port}", Path(tmp) / "gunicorn.log", js, args.verbose)
                    results[js] = taps
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
            log.close()

    print("Tap to next step, emulated slow 4G (150 ms RTT, 1.6 Mbps down, 750 kbps up), 390x844, "
          f"{args.rounds} walks per mode through gunicorn:")
    for js, taps in results.items():
        if args.verbose:
            print("   ", js, [(s, n, at_server, round(ms)) for s, n, at_server, ms in taps])
        per_answer = [n for _step, n, _at_server, _ms in taps]
        at_server = [n for _step, _n, n, _ms in taps]
        times = [ms for *_counts, ms in taps]
        label = "JavaScript on (htmx) " if js else "JavaScript off (PRG)"
        print(f"  {label}: {len(taps)} answers, requests per answer {statistics.mean(per_answer):.2f} "
              f"(max {max(per_answer)}; {statistics.mean(at_server):.2f} reached the server), "
              f"tap to next step median {statistics.median(times):.0f} ms, "
              f"p90 {statistics.quantiles(times, n=10)[-1]:.0f} ms")


if __name__ == "__main__":
    main()
