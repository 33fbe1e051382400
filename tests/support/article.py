"""The own-words gates: no run of RUN words in our text stands word for word in the article. The article's runs are
kept as hashes (tests/fixtures/article-runs.txt), so the gates also run where the article is absent (CI)."""
import functools
import hashlib
import re

from tests.conftest import ROOT

ARTICLE = ROOT.parent / "shared" / "seed" / "failed-back-surgery-article.txt"
ARTICLE_RUNS = ROOT / "tests" / "fixtures" / "article-runs.txt"
RUN = 10
ENGLISH_WORD = r"[a-z0-9']+"
SPANISH_WORD = r"[a-z0-9'áéíóúüñ]+"  # as the English gate makes words, but keeping Spanish letters inside a word


def words(text, word=ENGLISH_WORD):
    return re.findall(word, text.lower().replace("\u2019", "'"))


def run_hashes(found):
    """The fingerprint of every RUN-word run of the words `found`."""
    return {_fingerprint(found[i:i + RUN]) for i in range(len(found) - RUN + 1)}


@functools.cache
def article_runs():
    return frozenset(ARTICLE_RUNS.read_text(encoding="ascii").split())


def copied_runs(text, word=ENGLISH_WORD):
    """The RUN-word runs of `text` that the article has word for word."""
    found = words(text, word)
    return [" ".join(found[i:i + RUN]) for i in range(len(found) - RUN + 1)
            if _fingerprint(found[i:i + RUN]) in article_runs()]


def _fingerprint(run):
    return hashlib.sha256(" ".join(run).encode()).hexdigest()[:10]
